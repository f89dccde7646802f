package testserver

// Open returns the number of connections open now: accepted and not yet
// closed by either side. A client that quits, or closes its end, is no
// longer counted once the server has seen it go.
func (s *Server) Open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// PeakOpen returns the most connections that were open at once since the
// server started.
func (s *Server) PeakOpen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// DropConnections closes every open connection from the server's side,
// without a reply, as a server that restarts or times sessions out does;
// the listener goes on accepting new ones. It returns how many it closed.
func (s *Server) DropConnections() int {
	s.mu.Lock()
	live := make([]*trackedConn, 0, len(s.live))
	for c := range s.live {
		live = append(live, c)
	}
	s.mu.Unlock()
	for _, c := range live {
		_ = c.Close()
	}
	return len(live)
}
