package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dispatchd/dispatchd/internal/apikey"
	"github.com/dispatchd/dispatchd/internal/config"
	"github.com/dispatchd/dispatchd/internal/job"
)

const keysUsage = `Usage: dispatchd keys <command> [flags]

Commands:
  create --name NAME [--scope S] [--default-endpoint EP]
                     create an API key and print it, once; scope admin (default),
                     dispatch (dispatch jobs and read their state) or read (view only)
  list               list the API keys (never the keys themselves)
  revoke ID          revoke an API key, at once
  generate           print a new random key without storing it, for DISPATCHD_API_KEY

Every command takes --database-url, resolved as serve does: the flag, then
DISPATCHD_DATABASE_URL, then .env, then sqlite:./data/dispatchd.db; it says
which database it used, and warns when it had to create it.
API calls send a key as "Authorization: Bearer disp_k1_…".
`

// keysCommand manages the API keys stored in the database: "dispatchd keys
// create|list|revoke". args are what follows "keys".
func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return errors.New("keys: no command given")
	}
	switch args[0] {
	case "create":
		return keysCreate(ctx, args[1:], getenv, stdout, stderr)
	case "list":
		return keysList(ctx, args[1:], getenv, stdout, stderr)
	case "revoke":
		return keysRevoke(ctx, args[1:], getenv, stdout, stderr)
	case "generate":
		return keysGenerate(args[1:], stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, keysUsage)
		return nil
	}
	fmt.Fprint(stderr, keysUsage)
	return fmt.Errorf("keys: unknown command %q", args[0])
}

// defaultDatabaseURL is --database-url's default (internal/config).
const defaultDatabaseURL = "sqlite:./data/dispatchd.db"

// keysFlags is a keys command's flag set, with the --database-url every
// command takes.
type keysFlags struct {
	*flag.FlagSet
	databaseURL string
}

func newKeysFlags(name, usage string, stderr io.Writer) *keysFlags {
	fs := &keysFlags{FlagSet: flag.NewFlagSet("keys "+name, flag.ContinueOnError)}
	fs.SetOutput(stderr)
	fs.StringVar(&fs.databaseURL, "database-url", "", "sqlite:<path> or postgres://… (env DISPATCHD_DATABASE_URL)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: dispatchd keys %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, which may mix flags and arguments ("revoke ID
// --database-url …" as well as "revoke --database-url … ID"), and returns
// the arguments.
func (fs *keysFlags) parse(args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		// After "--" everything is an argument, even what looks like a flag.
		if n := len(args) - fs.NArg(); n > 0 && args[n-1] == "--" {
			return append(rest, fs.Args()...), nil
		}
		if fs.NArg() == 0 {
			return rest, nil
		}
		rest = append(rest, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// openKeys opens the store the settings name, the way serve does: the
// flag, then DISPATCHD_DATABASE_URL from the environment or .env, then the
// default. The caller closes the job.Store.
func (fs *keysFlags) openKeys(ctx context.Context, getenv func(string) string, stderr io.Writer) (job.Store, apikey.Store, error) {
	var args []string
	if fs.databaseURL != "" {
		args = []string{"--database-url", fs.databaseURL}
	}
	settings, _, err := loadConfig(fs.Name(), args, getenv, stderr)
	if err != nil {
		return nil, nil, err
	}
	// Say which database and why: a key made into the wrong one (run from
	// another directory, without the server's setting) is refused by the
	// server with no other clue.
	from := "the default"
	switch {
	case fs.databaseURL != "":
		from = "--database-url"
	case getenv("DISPATCHD_DATABASE_URL") != "":
		from = "DISPATCHD_DATABASE_URL"
	case settings.DatabaseURL != defaultDatabaseURL:
		from = "DISPATCHD_DATABASE_URL in .env"
	}
	shown := config.RedactURL(settings.DatabaseURL)
	created := false
	if path, ok := strings.CutPrefix(settings.DatabaseURL, "sqlite:"); ok {
		_, statErr := os.Stat(path)
		created = errors.Is(statErr, iofs.ErrNotExist)
		if abs, err := filepath.Abs(path); err == nil {
			shown = "sqlite:" + abs
		}
	}
	fmt.Fprintf(stderr, "database: %s (from %s)\n", shown, from)
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// API keys are stored hashed and the keys commands read no secret of a
	// spec: they need no encryption key, even on PostgreSQL.
	settings.AllowPlaintextSecrets = true
	store, err := openStore(openCtx, settings)
	if err != nil {
		return nil, nil, fmt.Errorf("open the database %s (from %s): %w", shown, from, err)
	}
	if created {
		// Still allowed: keys may be made before the first serve.
		fmt.Fprintf(stderr, "warning: %s did not exist: a new, empty database was created for this key. "+
			"A server that uses another database refuses the key; give it the server's --database-url or DISPATCHD_DATABASE_URL.\n", shown)
	}
	return store, store, nil
}

func keysCreate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newKeysFlags("create", "create --name NAME [--scope admin|dispatch|read] [--default-endpoint EP]", stderr)
	name := fs.String("name", "", "who or what the key is for, e.g. ci or billing-service (required)")
	scopeFlag := fs.String("scope", "admin", "what the key may do: admin (everything), dispatch (dispatch jobs and read their state) or read (view only)")
	endpoint := fs.String("default-endpoint", "", "endpoint that Dispatched-compatible /api/jobs/dispatch calls made with the key deliver to (default: the configuration's default_endpoint)")
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("keys create: unexpected argument %q; the name goes in --name", rest[0])
	}
	*name = strings.TrimSpace(*name)
	if *name == "" {
		return errors.New("keys create: --name is required: say who or what the key is for, e.g. --name ci")
	}
	// A name is shown in a table: a tab or a newline would break it.
	if err := apikey.ValidateName(*name); err != nil {
		return fmt.Errorf("keys create: --name: %v", err)
	}
	scope, err := apikey.ParseScope(strings.TrimSpace(*scopeFlag))
	if err != nil {
		return fmt.Errorf("keys create: --scope: %v", err)
	}
	*endpoint = strings.TrimSpace(*endpoint)

	store, keys, err := fs.openKeys(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	if *endpoint != "" {
		// Endpoints of the configuration file are declared when serve
		// starts, so one may well be missing now: a warning, not an error.
		_, err := store.GetEndpoint(ctx, *endpoint)
		switch {
		case job.ErrorCode(err) == job.CodeNotFound:
			fmt.Fprintf(stderr, "warning: no endpoint %q is declared yet; dispatches made with this key fail until it is\n", *endpoint)
		case err != nil:
			return fmt.Errorf("look up endpoint %q: %w", *endpoint, err)
		}
	}

	plaintext, k := apikey.Generate()
	k.Name, k.DefaultEndpoint, k.Scope, k.CreatedAt = *name, *endpoint, scope, time.Now()
	if err := keys.CreateKey(ctx, k); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Created API key %s (name %q, scope %s", k.ID, k.Name, k.Scope)
	if k.DefaultEndpoint != "" {
		fmt.Fprintf(stdout, ", default endpoint %q", k.DefaultEndpoint)
	}
	fmt.Fprintf(stdout, "):\n\n    %s\n\n", plaintext)
	fmt.Fprintf(stdout, "Copy it now: it is not shown again (dispatchd stores only its SHA-256).\n")
	fmt.Fprintf(stdout, "Send it as \"Authorization: Bearer <key>\"; revoke it with \"dispatchd keys revoke %s\".\n", k.ID)
	return nil
}

func keysList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newKeysFlags("list", "list", stderr)
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("keys list: unexpected argument %q", rest[0])
	}
	store, keys, err := fs.openKeys(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	list, err := keys.ListKeys(ctx)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(stdout, "No API keys. Create one with: dispatchd keys create --name NAME")
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tPREFIX\tDEFAULT ENDPOINT\tCREATED\tLAST USED\tREVOKED")
	for _, k := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s…\t%s\t%s\t%s\t%s\n", listText(k.ID), listText(k.Name), listText(string(k.Scope)), listText(k.Prefix),
			listText(orDash(k.DefaultEndpoint)), listTime(k.CreatedAt, "-"), listTime(k.LastUsedAt, "never"), listTime(k.RevokedAt, "-"))
	}
	return tw.Flush()
}

func keysRevoke(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newKeysFlags("revoke", "revoke ID", stderr)
	rest, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New(`keys revoke: give the id of one key, e.g. "dispatchd keys revoke key_…" ("dispatchd keys list" shows them)`)
	}
	id := rest[0]
	store, keys, err := fs.openKeys(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	err = keys.RevokeKey(ctx, id, time.Now())
	if job.ErrorCode(err) == job.CodeNotFound {
		return fmt.Errorf(`keys revoke: no API key %q ("dispatchd keys list" shows the ids)`, id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Revoked API key %s: calls made with it are refused from now on.\n", id)
	return nil
}

// keysGenerate prints a new random key without storing it: the way to make
// a bootstrap key (DISPATCHD_API_KEY), which has no row in the store.
func keysGenerate(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("keys generate: unexpected argument %q", args[0])
	}
	plaintext, _ := apikey.Generate()
	fmt.Fprintln(stdout, plaintext)
	return nil
}

// listText shows s in a listing as it is when it is all printable, else
// quoted with Go escapes: a name stored before names were checked (or
// written to the database by hand) must not break the table or send
// escape sequences to the terminal.
func listText(s string) string {
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool {
		return r != ' ' && (!unicode.IsGraphic(r) || unicode.In(r, unicode.Cf))
	}) {
		return strconv.QuoteToASCII(s)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// listTime formats a time of the key list, or says none if it is zero.
func listTime(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}
