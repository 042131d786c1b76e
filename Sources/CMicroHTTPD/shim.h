// GNU libmicrohttpd (Debian's libmicrohttpd-dev), the HTTP/1.1 server under `swapmoe serve` (SwapMoEHTTP).
// Swift calls the library directly; the daemon's options go through MHD_start_daemon_va with Swift's
// withVaList. The one inline function below exists because MHD_get_connection_info is variadic, which Swift
// cannot call.
#pragma once
#include <microhttpd.h>

/// The socket of `connection`, or -1 if libmicrohttpd does not say (MHD_CONNECTION_INFO_CONNECTION_FD).
static inline int swapmoe_mhd_connection_fd(struct MHD_Connection *connection) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    return info ? info->connect_fd : -1;
}
