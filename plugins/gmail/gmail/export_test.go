package gmail

// SetMaxMessageBytes lowers the size limit of a configured transport, so
// that a test need not build a 35 MiB message. Call it between Configure
// and Send.
func (t *Transport) SetMaxMessageBytes(n int) {
	st, err := t.cur.Get()
	if err != nil {
		panic("SetMaxMessageBytes on a transport that is not configured: " + err.Error())
	}
	st.sender.maxBytes = n
}
