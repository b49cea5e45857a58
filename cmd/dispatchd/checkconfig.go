package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"time"

	"github.com/dispatchd/dispatchd/internal/config"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/server"
	"github.com/dispatchd/dispatchd/internal/ssrf"
)

// skipDatabaseFlag makes check-config leave the database alone (it is not
// a setting of serve, so it is taken out before the settings are parsed).
const skipDatabaseFlag = "--skip-database"

// checkConfig validates what serve would start with and reports what would
// go wrong once it runs: besides the file and settings, the database must
// answer (unless --skip-database), there must be a source to receive
// webhooks, and every endpoint must be reachable past the SSRF guard —
// otherwise its jobs die on their first attempt.
func checkConfig(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	skipDB := false
	args = slices.DeleteFunc(slices.Clone(args), func(a string) bool {
		if a == skipDatabaseFlag || a == "-skip-database" {
			skipDB = true
			return true
		}
		return false
	})
	settings, file, err := loadConfig("check-config", args, getenv, stderr)
	if err != nil {
		return err
	}
	if _, err := server.LoadTLS(settings.TLSCertFile, settings.TLSKeyFile); err != nil {
		return err
	}
	if err := checkBootstrapKey(settings.APIKey); err != nil {
		return err
	}

	var problems []string
	sources := len(file.Sources)
	if !skipDB {
		n, err := storedSources(ctx, settings)
		if err != nil {
			problems = append(problems, fmt.Sprintf("database %s: %v (%s skips this check)", config.RedactURL(settings.DatabaseURL), err, skipDatabaseFlag))
		}
		sources += n
	}
	if sources == 0 {
		problems = append(problems, "no sources: every webhook would be answered 404; declare them in the file --config or DISPATCHD_CONFIG names, or create them through the API")
	}
	guard := ssrf.New(settings.AllowPrivateNetworks)
	for i, e := range file.Endpoints {
		if err := reachable(ctx, guard, e.URL); err != nil {
			problems = append(problems, fmt.Sprintf("endpoints[%d] (%s).url: %v: its jobs would die on their first attempt", i, e.Name, err))
		}
	}
	if o := file.OperationalWebhook; o != nil {
		if err := reachable(ctx, guard, o.URL); err != nil {
			problems = append(problems, fmt.Sprintf("operational_webhook.url: %v", err))
		}
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "problem:", p)
		}
		return fmt.Errorf("check-config: %d problem(s), listed above", len(problems))
	}
	fmt.Fprintf(stdout, "configuration OK: %d sources, %d endpoints, database %s\n",
		len(file.Sources), len(file.Endpoints), config.RedactURL(settings.DatabaseURL))
	return nil
}

// storedSources opens the database as serve would and counts the sources
// the API created there.
func storedSources(ctx context.Context, settings config.Settings) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	store, err := openStore(ctx, settings)
	if err != nil {
		return 0, err
	}
	defer store.Close()
	list, err := store.ListSources(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, s := range list {
		if s.Origin != job.OriginConfig {
			n++
		}
	}
	return n, nil
}

// reachable reports whether the guard lets a delivery to rawURL's host
// through, resolving a name as the dialer would.
func reachable(ctx context.Context, guard *ssrf.Guard, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		return guard.Check(ip)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return fmt.Errorf("%s does not resolve", host)
		}
		return fmt.Errorf("%s could not be resolved now: %v", host, err)
	}
	for _, ip := range ips {
		if err := guard.Check(ip); err != nil {
			return fmt.Errorf("%s: %w", host, err)
		}
	}
	return nil
}
