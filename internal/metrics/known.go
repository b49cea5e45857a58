package metrics

// Known creates the series of the sources and endpoints known at start at
// 0, so that every metric README lists is on /metrics from the start: a
// dashboard or an alert (rate, absent) works before the first webhook or
// delivery. Sources and endpoints created later appear when first used.
func (m *Metrics) Known(sources, endpoints []string) {
	if m == nil {
		return
	}
	outcomes := []string{OutcomeAccepted, OutcomeDuplicate, OutcomeUnauthorized, OutcomeTooLarge,
		OutcomeInvalid, OutcomeRateLimited, OutcomeUnavailable}
	for _, s := range sources {
		for _, o := range outcomes {
			m.webhooks.WithLabelValues(s, o)
		}
		m.ingestDuration.WithLabelValues(s)
	}
	// An unknown source is counted under source "".
	m.webhooks.WithLabelValues("", OutcomeUnknown)
	for _, e := range endpoints {
		m.attempts.WithLabelValues(e, "completed", "")
		m.deliveryTime.WithLabelValues(e)
		m.retries.WithLabelValues(e)
		m.dead.WithLabelValues(e)
		m.disabled.WithLabelValues(e)
	}
}
