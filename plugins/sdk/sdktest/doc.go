// Package sdktest helps test transport plugins: it builds plugin binaries
// for tests and checks that nothing a test planted as a secret shows up in
// what a plugin printed or returned.
//
// Stand-in servers for the providers a transport talks to are in the
// sibling package testserver.
package sdktest
