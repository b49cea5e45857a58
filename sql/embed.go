// Package sqlfiles embeds the schema migrations of both engines. The same
// files are sqlc's schema input, so the generated queries and the database
// the service migrates at start can never disagree.
package sqlfiles

import (
	"embed"
	"io/fs"
)

//go:embed sqlite/schema/*.sql postgres/schema/*.sql
var files embed.FS

// SQLite returns the SQLite migrations (NNNN_name.sql).
func SQLite() fs.FS { return mustSub("sqlite/schema") }

// Postgres returns the PostgreSQL migrations (NNNN_name.sql).
func Postgres() fs.FS { return mustSub("postgres/schema") }

func mustSub(dir string) fs.FS {
	sub, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // dir is a constant that go:embed guarantees exists
	}
	return sub
}
