package gmail

// SetMaxMessageBytes lowers the size limit of a configured transport, so
// that a test need not build a 35 MiB message.
func (t *Transport) SetMaxMessageBytes(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.state.sender.maxBytes = n
}
