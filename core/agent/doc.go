// Package agent assembles a running Tocsin agent from a loaded
// configuration: it starts and configures the transport plugins, serves the
// status endpoints, and stops everything in order.
package agent
