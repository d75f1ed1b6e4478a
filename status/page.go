package status

import "net/http"

func (s *Service) servePage(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "not yet", http.StatusNotImplemented)
}
