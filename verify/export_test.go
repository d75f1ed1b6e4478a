package verify

// Exported for the external tests.
var (
	OpenSource        = openSource
	Head              = head
	TransactionsAfter = transactionsAfter
)
