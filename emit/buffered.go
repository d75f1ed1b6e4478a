package emit

// Buffered returns the event bytes the sink holds in memory (open, sealed
// and uploading buffers) and its cap, MaxBufferedBytes.
func (s *S3Sink) Buffered() (held, capacity int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buffered, s.cfg.MaxBufferedBytes
}

// Buffered returns the event bytes Kinesis has not accepted yet and the
// cap, MaxBufferedBytes.
func (s *KinesisSink) Buffered() (held, capacity int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buffered, s.cfg.MaxBufferedBytes
}
