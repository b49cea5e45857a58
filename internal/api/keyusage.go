package api

import (
	"context"
	"time"

	dispatchdv1 "github.com/dispatchd/dispatchd/gen/dispatchd/v1"
	"github.com/dispatchd/dispatchd/internal/job"
	"github.com/dispatchd/dispatchd/internal/rpcerr"
)

// usageDays is how many days of usage GetKey and ListKeys show.
const usageDays = 30

// usage returns each key's requests per day over the last usageDays, or
// nothing when the store does not count them.
func (s *KeyServer) usage(ctx context.Context) (map[string][]*dispatchdv1.KeyUsageDay, error) {
	us, ok := s.keys.(KeyUsageStore)
	if !ok {
		return nil, nil
	}
	rows, err := us.ListKeyUsage(ctx, s.now().Add(-(usageDays-1)*24*time.Hour))
	if err != nil {
		return nil, err
	}
	byKey := map[string][]*dispatchdv1.KeyUsageDay{}
	for _, r := range rows {
		byKey[r.KeyID] = append(byKey[r.KeyID], &dispatchdv1.KeyUsageDay{Day: r.Day, Requests: r.Requests})
	}
	return byKey, nil
}

// GetKey implements dispatchdv1.KeyServiceServer.
func (s *KeyServer) GetKey(ctx context.Context, req *dispatchdv1.GetKeyRequest) (*dispatchdv1.GetKeyResponse, error) {
	if req.GetKeyId() == "" {
		return nil, rpcerr.Status(invalid("key_id", "required"))
	}
	keys, err := s.keys.ListKeys(ctx)
	if err != nil {
		return nil, fail(ctx, s.log, "GetKey", err)
	}
	for _, k := range keys {
		if k.ID != req.GetKeyId() {
			continue
		}
		usage, err := s.usage(ctx)
		if err != nil {
			return nil, fail(ctx, s.log, "GetKey", err)
		}
		p := keyToProto(k)
		p.Usage = usage[k.ID]
		return &dispatchdv1.GetKeyResponse{ApiKey: p}, nil
	}
	return nil, rpcerr.Status(job.Errorf(job.CodeNotFound, "no key %q", req.GetKeyId()))
}
