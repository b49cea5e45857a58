package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"google.golang.org/protobuf/types/known/structpb"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/schedule"
)

// ScheduleServer implements dispatchdv1.ScheduleServiceServer.
type ScheduleServer struct {
	dispatchdv1.UnimplementedScheduleServiceServer

	store     schedule.Store
	endpoints EndpointGetter
	now       func() time.Time
	log       *slog.Logger
}

// NewScheduleServer returns a ScheduleServer.
func NewScheduleServer(store schedule.Store, endpoints EndpointGetter, now func() time.Time, log *slog.Logger) *ScheduleServer {
	return &ScheduleServer{store: store, endpoints: endpoints, now: now, log: log}
}

// specFromProto validates a definition by the schedule package's rules
// and returns it compiled.
func (s *ScheduleServer) specFromProto(ctx context.Context, name string, p *dispatchdv1.ScheduleSpec) (*schedule.Spec, error) {
	if p == nil {
		return nil, invalid("spec", "required")
	}
	spec := job.ScheduleSpec{
		Name: name, Cron: p.GetCron(), TimeZone: p.GetTimeZone(), Endpoint: p.GetEndpoint(),
		Overlap: p.GetOverlap(), CatchUp: p.GetCatchUp(), Jitter: p.GetJitter().AsDuration(),
	}
	if p.GetPayload() != nil {
		b, err := encodePayload(p.GetPayload())
		if err != nil {
			return nil, invalid("spec.payload", "not encodable as JSON: %v", err)
		}
		spec.Payload = b
	}
	c, err := schedule.Compile(spec)
	if err != nil {
		return nil, err
	}
	ep, err := s.endpoints.GetEndpoint(ctx, spec.Endpoint)
	if err != nil {
		if job.ErrorCode(err) == job.CodeNotFound {
			return nil, job.Errorf(job.CodeNotFound, "spec.endpoint: no endpoint %q", spec.Endpoint)
		}
		return nil, err
	}
	limit := ep.MaxPayloadBytes
	if limit <= 0 {
		limit = job.DefaultMaxPayloadBytes
	}
	if len(spec.Payload) > limit {
		return nil, invalid("spec.payload", "%d bytes; the endpoint takes at most %d", len(spec.Payload), limit)
	}
	return c, nil
}

// CreateSchedule implements dispatchdv1.ScheduleServiceServer.
func (s *ScheduleServer) CreateSchedule(ctx context.Context, req *dispatchdv1.CreateScheduleRequest) (*dispatchdv1.CreateScheduleResponse, error) {
	c, err := s.specFromProto(ctx, req.GetName(), req.GetSpec())
	if err != nil {
		return nil, fail(ctx, s.log, "CreateSchedule", err)
	}
	now := s.now()
	if err := s.store.CreateSchedule(ctx, job.NewSchedule{Spec: c.ScheduleSpec, NextTick: c.First(now)}, now); err != nil {
		return nil, fail(ctx, s.log, "CreateSchedule", err)
	}
	sc, err := s.store.GetSchedule(ctx, c.Name)
	if err != nil {
		return nil, fail(ctx, s.log, "CreateSchedule", err)
	}
	return &dispatchdv1.CreateScheduleResponse{Schedule: scheduleToProto(sc)}, nil
}

// GetSchedule implements dispatchdv1.ScheduleServiceServer.
func (s *ScheduleServer) GetSchedule(ctx context.Context, req *dispatchdv1.GetScheduleRequest) (*dispatchdv1.GetScheduleResponse, error) {
	sc, err := s.store.GetSchedule(ctx, req.GetName())
	if err != nil {
		return nil, fail(ctx, s.log, "GetSchedule", err)
	}
	size := int(req.GetFiresPageSize())
	switch {
	case size < 0 || size > 1000:
		return nil, fail(ctx, s.log, "GetSchedule", invalid("fires_page_size", "%d: want 1 to 1000", size))
	case size == 0:
		size = 20
	}
	var before time.Time
	if req.GetFiresBefore() != nil {
		before = req.GetFiresBefore().AsTime()
	}
	fires, err := s.store.ListScheduleFires(ctx, sc.Spec.Name, before, size)
	if err != nil {
		return nil, fail(ctx, s.log, "GetSchedule", err)
	}
	resp := &dispatchdv1.GetScheduleResponse{Schedule: scheduleToProto(sc)}
	for _, f := range fires {
		resp.Fires = append(resp.Fires, fireToProto(f))
	}
	return resp, nil
}

// ListSchedules implements dispatchdv1.ScheduleServiceServer.
func (s *ScheduleServer) ListSchedules(ctx context.Context, _ *dispatchdv1.ListSchedulesRequest) (*dispatchdv1.ListSchedulesResponse, error) {
	list, err := s.store.ListSchedules(ctx)
	if err != nil {
		return nil, fail(ctx, s.log, "ListSchedules", err)
	}
	resp := &dispatchdv1.ListSchedulesResponse{}
	for _, sc := range list {
		resp.Schedules = append(resp.Schedules, scheduleToProto(sc))
	}
	return resp, nil
}

// apiSchedule returns a schedule that the API may change.
func (s *ScheduleServer) apiSchedule(ctx context.Context, name string) (job.Schedule, error) {
	sc, err := s.store.GetSchedule(ctx, name)
	if err != nil {
		return job.Schedule{}, err
	}
	if sc.Origin == job.OriginConfig {
		return job.Schedule{}, job.Errorf(job.CodeFailedPrecondition, "schedule %q is declared in the configuration file; change it there", name)
	}
	return sc, nil
}

// UpdateSchedule implements dispatchdv1.ScheduleServiceServer.
func (s *ScheduleServer) UpdateSchedule(ctx context.Context, req *dispatchdv1.UpdateScheduleRequest) (*dispatchdv1.UpdateScheduleResponse, error) {
	if _, err := s.apiSchedule(ctx, req.GetName()); err != nil {
		return nil, fail(ctx, s.log, "UpdateSchedule", err)
	}
	c, err := s.specFromProto(ctx, req.GetName(), req.GetSpec())
	if err != nil {
		return nil, fail(ctx, s.log, "UpdateSchedule", err)
	}
	now := s.now()
	if err := s.store.UpdateSchedule(ctx, job.NewSchedule{Spec: c.ScheduleSpec, NextTick: c.First(now)}, now); err != nil {
		return nil, fail(ctx, s.log, "UpdateSchedule", err)
	}
	sc, err := s.store.GetSchedule(ctx, c.Name)
	if err != nil {
		return nil, fail(ctx, s.log, "UpdateSchedule", err)
	}
	return &dispatchdv1.UpdateScheduleResponse{Schedule: scheduleToProto(sc)}, nil
}

// DeleteSchedule implements dispatchdv1.ScheduleServiceServer. Schedules
// from the file may be deleted too: one removed from the file would
// otherwise fire for ever (a start re-declares one still in the file).
func (s *ScheduleServer) DeleteSchedule(ctx context.Context, req *dispatchdv1.DeleteScheduleRequest) (*dispatchdv1.DeleteScheduleResponse, error) {
	if err := s.store.DeleteSchedule(ctx, req.GetName()); err != nil {
		return nil, fail(ctx, s.log, "DeleteSchedule", err)
	}
	return &dispatchdv1.DeleteScheduleResponse{}, nil
}

// PauseSchedule implements dispatchdv1.ScheduleServiceServer.
func (s *ScheduleServer) PauseSchedule(ctx context.Context, req *dispatchdv1.PauseScheduleRequest) (*dispatchdv1.PauseScheduleResponse, error) {
	if err := s.store.PauseSchedule(ctx, req.GetName(), s.now()); err != nil {
		return nil, fail(ctx, s.log, "PauseSchedule", err)
	}
	sc, err := s.store.GetSchedule(ctx, req.GetName())
	if err != nil {
		return nil, fail(ctx, s.log, "PauseSchedule", err)
	}
	return &dispatchdv1.PauseScheduleResponse{Schedule: scheduleToProto(sc)}, nil
}

// ResumeSchedule implements dispatchdv1.ScheduleServiceServer.
func (s *ScheduleServer) ResumeSchedule(ctx context.Context, req *dispatchdv1.ResumeScheduleRequest) (*dispatchdv1.ResumeScheduleResponse, error) {
	sc, err := s.store.GetSchedule(ctx, req.GetName())
	if err != nil {
		return nil, fail(ctx, s.log, "ResumeSchedule", err)
	}
	c, err := schedule.Compile(sc.Spec)
	if err != nil {
		return nil, fail(ctx, s.log, "ResumeSchedule", err)
	}
	now := s.now()
	if err := s.store.ResumeSchedule(ctx, sc.Spec.Name, c.First(now), now); err != nil {
		return nil, fail(ctx, s.log, "ResumeSchedule", err)
	}
	if sc, err = s.store.GetSchedule(ctx, sc.Spec.Name); err != nil {
		return nil, fail(ctx, s.log, "ResumeSchedule", err)
	}
	return &dispatchdv1.ResumeScheduleResponse{Schedule: scheduleToProto(sc)}, nil
}

// TriggerSchedule implements dispatchdv1.ScheduleServiceServer.
func (s *ScheduleServer) TriggerSchedule(ctx context.Context, req *dispatchdv1.TriggerScheduleRequest) (*dispatchdv1.TriggerScheduleResponse, error) {
	f, err := schedule.Trigger(ctx, s.store, req.GetName(), s.now(), nil)
	if err != nil {
		return nil, fail(ctx, s.log, "TriggerSchedule", err)
	}
	return &dispatchdv1.TriggerScheduleResponse{Fire: fireToProto(f)}, nil
}

func scheduleToProto(sc job.Schedule) *dispatchdv1.Schedule {
	spec := &dispatchdv1.ScheduleSpec{
		Cron: sc.Spec.Cron, TimeZone: sc.Spec.TimeZone, Endpoint: sc.Spec.Endpoint,
		Overlap: sc.Spec.Overlap, CatchUp: sc.Spec.CatchUp, Jitter: dur(sc.Spec.Jitter),
	}
	if len(sc.Spec.Payload) > 0 {
		var v any
		if json.Unmarshal(sc.Spec.Payload, &v) == nil {
			if pv, err := structpb.NewValue(v); err == nil {
				spec.Payload = pv
			}
		}
	}
	return &dispatchdv1.Schedule{
		Name: sc.Spec.Name, Spec: spec, Origin: sc.Origin, Paused: sc.Paused,
		NextFireAt: ts(sc.NextTick), LastFireAt: ts(sc.LastTick), LastJobId: sc.LastJobID,
		CreatedAt: ts(sc.CreatedAt), UpdatedAt: ts(sc.UpdatedAt),
	}
}

func fireToProto(f job.ScheduleFire) *dispatchdv1.ScheduleFire {
	return &dispatchdv1.ScheduleFire{Tick: ts(f.Tick), Outcome: f.Outcome, JobId: f.JobID, Manual: f.Manual, FiredAt: ts(f.FiredAt)}
}
