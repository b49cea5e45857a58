package config

import (
	"encoding/json"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/schedule"
)

// Schedule is a recurring job: on every tick of Cron (in TimeZone), a job
// with Payload for Endpoint. The schedule package validates it.
type Schedule struct {
	Name     string `yaml:"name"`
	Cron     string `yaml:"cron"`
	TimeZone string `yaml:"time_zone"`
	Endpoint string `yaml:"endpoint"`
	// EventType is refused until dispatchd has event types.
	EventType string      `yaml:"event_type"`
	Payload   JSONPayload `yaml:"payload"`
	// Overlap is allow (default), skip or replace.
	Overlap string `yaml:"overlap"`
	// CatchUp is latest (default), none or a duration such as 1h.
	CatchUp string   `yaml:"catch_up"`
	Jitter  Duration `yaml:"jitter"`
}

// JSONPayload is any YAML value, kept as its JSON encoding.
type JSONPayload []byte

// UnmarshalYAML implements yaml.Unmarshaler.
func (p *JSONPayload) UnmarshalYAML(n *yaml.Node) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		// A mapping with a key that is not a string has no JSON form.
		return fmt.Errorf("line %d: the payload has no JSON form: %v", n.Line, err)
	}
	*p = b
	return nil
}

// Spec is the schedule's domain spec.
func (s *Schedule) Spec() job.ScheduleSpec {
	return job.ScheduleSpec{
		Name: s.Name, Cron: s.Cron, TimeZone: s.TimeZone, Endpoint: s.Endpoint, Payload: []byte(s.Payload),
		Overlap: s.Overlap, CatchUp: s.CatchUp, Jitter: time.Duration(s.Jitter),
	}
}

// validateSchedules checks every schedule with the domain's rules and that
// its endpoint is declared.
func (f *File) validateSchedules(endpoints map[string]bool, add func(path, format string, args ...any)) {
	seen := map[string]bool{}
	for i := range f.Schedules {
		s := &f.Schedules[i]
		p := fmt.Sprintf("schedules[%d]", i)
		if s.Name != "" {
			p += " (" + s.Name + ")"
		}
		if seen[s.Name] && s.Name != "" {
			add(p+".name", "%q is declared twice", s.Name)
		}
		seen[s.Name] = true
		if s.EventType != "" {
			add(p+".event_type", "event types do not exist yet; give an endpoint")
			continue
		}
		if _, err := schedule.Compile(s.Spec()); err != nil {
			add(p, "%s", job.ErrorMessage(err))
			continue
		}
		if !endpoints[s.Endpoint] {
			add(p+".endpoint", "endpoint %q is not declared under endpoints", s.Endpoint)
		}
	}
}
