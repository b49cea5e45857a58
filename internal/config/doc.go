// Package config reads dispatchd's settings: flags, their DISPATCHD_*
// environment twins, a .env file in the working directory, and the optional
// declarative YAML file of sources, endpoints and routes.
//
// Precedence, highest first: a flag given on the command line, the process
// environment, the .env file, the built-in default. Every error names the
// setting or the YAML key at fault and says what is wrong with it, because a
// bad configuration must stop the start with a message a person can act on.
package config
