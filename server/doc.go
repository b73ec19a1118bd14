// Package server is the node's HTTP listener: the chi root router with the
// shared middleware (panic recovery, request logging, a Host allow-list
// against DNS rebinding, cross-origin protection for state-changing browser
// requests), the API and the dashboard mounted side by side, and graceful
// shutdown.
package server
