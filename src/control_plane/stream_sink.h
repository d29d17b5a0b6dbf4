// Where the control plane sends a connected node's messages: the node's Connect stream.
// Implemented by the gRPC reactor (grpc_services.cc) and by tests standing in for an agent.
// Implementations must be thread-safe: any control-plane thread may send or close, never while
// holding one of the control plane's locks (a sink may call back into it).
#ifndef CARRIERARR_CONTROL_PLANE_STREAM_SINK_H_
#define CARRIERARR_CONTROL_PLANE_STREAM_SINK_H_

#include "core/status.h"
#include "ec2agent/v1/agent.pb.h"

namespace carrierarr::control_plane {

class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // False once the stream is gone.
  virtual bool Send(const ec2agent::v1::ControlMessage& message) = 0;
  // Ends the stream with this (non-OK) status; the gRPC seam maps its code.
  virtual void Close(const Status& why) = 0;
};

}  // namespace carrierarr::control_plane

#endif  // CARRIERARR_CONTROL_PLANE_STREAM_SINK_H_
