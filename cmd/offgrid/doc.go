// Command offgrid runs an Offgrid-Net node (`offgrid node`), a local demo
// mesh (`offgrid demo`), and the clients and offline tools that talk to a
// node. `offgrid --help` lists every command. This package only wires flags,
// environment, config file, logging and signals to the other packages.
package main
