// Package api implements the jobs and admin services: JobService,
// EndpointService, SourceService and KeyService. Each method validates its
// input (errors name the field), calls the store, and converts between the
// generated protobuf types and the domain's at this edge; the domain never
// sees a protobuf type.
//
// Authentication is not done here: the gRPC server's interceptor (package
// apikey) admits the call and puts the caller in the context.
package api
