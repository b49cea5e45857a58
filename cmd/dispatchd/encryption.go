package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"strings"
	"time"

	"github.com/dispatchd/dispatchd/internal/config"
	"github.com/dispatchd/dispatchd/internal/secretbox"
)

const encryptionUsage = `Usage: dispatchd encryption <command> [flags]

Commands:
  generate-key   print a new random key for DISPATCHD_ENCRYPTION_KEY
  rotate         re-encrypt every stored secret under the first key of
                 DISPATCHD_ENCRYPTION_KEY, while the service runs; afterwards
                 the other keys can be dropped from the list

rotate takes the settings serve takes (--database-url, --encryption-key, …).
`

// keyFileSuffix names the key file of an SQLite database: beside it, so a
// backup of the directory keeps both (and a copy of the file alone does not
// give the secrets away).
const keyFileSuffix = ".key"

// encryptionCommand is "dispatchd encryption generate-key|rotate".
func encryptionCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, encryptionUsage)
		return errors.New("encryption: no command given")
	}
	switch args[0] {
	case "generate-key":
		if len(args) > 1 {
			return fmt.Errorf("encryption generate-key: unexpected argument %q", args[1])
		}
		fmt.Fprintln(stdout, secretbox.GenerateKey())
		return nil
	case "rotate":
		return encryptionRotate(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, encryptionUsage)
		return nil
	}
	fmt.Fprint(stderr, encryptionUsage)
	return fmt.Errorf("encryption: unknown command %q", args[0])
}

func encryptionRotate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	settings, _, err := loadConfig("encryption rotate", args, getenv, stderr)
	if err != nil {
		return err
	}
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	store, err := openStore(openCtx, settings)
	cancel()
	if err != nil {
		return fmt.Errorf("open the store (DISPATCHD_DATABASE_URL=%s): %w", config.RedactURL(settings.DatabaseURL), err)
	}
	defer store.Close()
	rep, err := store.Reencrypt(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "re-encrypted %d specs under key %s (%d already were) and %d payloads (%d already were); keys other than the first may now be removed from DISPATCHD_ENCRYPTION_KEY\n",
		rep.Sealed, keyID(settings), rep.Current, rep.Payloads, rep.PayloadsCurrent)
	return nil
}

// keyID names the sealing key for the operator (never the key itself).
func keyID(s config.Settings) string {
	k, err := resolveKeyring(s, false)
	if err != nil || k == nil {
		return "?"
	}
	return k.CurrentKeyID()
}

// resolveKeyring is the keyring the settings call for:
// DISPATCHD_ENCRYPTION_KEY when set; else, for SQLite, the key file beside
// the database, created (0600) when create is true and it does not exist,
// so that the embedded default is encrypted too; else nil for PostgreSQL
// with --allow-plaintext-secrets, and an error without it.
func resolveKeyring(s config.Settings, create bool) (*secretbox.Keyring, error) {
	if s.EncryptionKey != "" {
		return secretbox.ParseKeyring(s.EncryptionKey)
	}
	path, ok := strings.CutPrefix(s.DatabaseURL, "sqlite:")
	if !ok {
		if s.AllowPlaintextSecrets {
			return nil, nil
		}
		return nil, fmt.Errorf("PostgreSQL needs an encryption key for the secrets it stores: generate one with " +
			"`dispatchd encryption generate-key`, keep it safe and set DISPATCHD_ENCRYPTION_KEY to it " +
			"(or, to store secrets in clear, pass --allow-plaintext-secrets)")
	}
	keyPath := path + keyFileSuffix
	b, err := os.ReadFile(keyPath)
	if errors.Is(err, iofs.ErrNotExist) && create {
		if err := writeKeyFile(keyPath); err != nil {
			return nil, err
		}
		b, err = os.ReadFile(keyPath)
	}
	if err != nil {
		return nil, fmt.Errorf("encryption key file: %w", err)
	}
	k, err := secretbox.ParseKeyring(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("encryption key file %s: %w", keyPath, err)
	}
	return k, nil
}

// writeKeyFile creates the key file, readable by its owner only; O_EXCL so
// that two processes starting at once do not write different keys.
func writeKeyFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, iofs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create the encryption key file: %w", err)
	}
	if _, err := fmt.Fprintln(f, secretbox.GenerateKey()); err != nil {
		f.Close()
		return fmt.Errorf("write the encryption key file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write the encryption key file: %w", err)
	}
	return f.Close()
}
