package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/grpclog"
)

// grpcLogs is where gRPC's and grpc-gateway's own log lines go once
// RouteGRPCLogs has run.
var (
	grpcLogs     atomic.Pointer[slog.Logger]
	grpcLogsOnce sync.Once
)

// RouteGRPCLogs sends the log lines of gRPC and grpc-gateway (which log
// through grpclog, as plain text on stderr by default: "Failed to write
// response", "HTTP header … skipping"…) to log, as structured lines with
// component "grpc". Their info lines are debug here: they are the noise of
// connections coming and going. A later call only changes the logger.
func RouteGRPCLogs(log *slog.Logger) {
	grpcLogs.Store(log)
	grpcLogsOnce.Do(func() { grpclog.SetLoggerV2(slogGRPC{}) })
}

// slogGRPC is a grpclog.LoggerV2 over grpcLogs.
type slogGRPC struct{}

func (slogGRPC) log(level slog.Level, msg string) {
	if l := grpcLogs.Load(); l != nil {
		l.Log(context.Background(), level, msg, "component", "grpc")
	}
}

func (l slogGRPC) Info(args ...any)   { l.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (l slogGRPC) Infoln(args ...any) { l.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (l slogGRPC) Infof(format string, args ...any) {
	l.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (l slogGRPC) Warning(args ...any)   { l.log(slog.LevelWarn, fmt.Sprint(args...)) }
func (l slogGRPC) Warningln(args ...any) { l.log(slog.LevelWarn, fmt.Sprint(args...)) }
func (l slogGRPC) Warningf(format string, args ...any) {
	l.log(slog.LevelWarn, fmt.Sprintf(format, args...))
}
func (l slogGRPC) Error(args ...any)   { l.log(slog.LevelError, fmt.Sprint(args...)) }
func (l slogGRPC) Errorln(args ...any) { l.log(slog.LevelError, fmt.Sprint(args...)) }
func (l slogGRPC) Errorf(format string, args ...any) {
	l.log(slog.LevelError, fmt.Sprintf(format, args...))
}
func (l slogGRPC) Fatal(args ...any)   { l.log(slog.LevelError, fmt.Sprint(args...)); os.Exit(1) }
func (l slogGRPC) Fatalln(args ...any) { l.log(slog.LevelError, fmt.Sprint(args...)); os.Exit(1) }
func (l slogGRPC) Fatalf(format string, args ...any) {
	l.log(slog.LevelError, fmt.Sprintf(format, args...))
	os.Exit(1)
}

// V reports whether verbose lines of level are wanted: none, they are
// per-connection detail.
func (slogGRPC) V(level int) bool { return level <= 0 }
