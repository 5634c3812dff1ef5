// Noticing that a client went away while its request is computed, so the work can be cancelled.
// Debian's cpp-httplib 0.11 gives a handler no access to its connection, so the socket is found by its
// addresses: the one open socket whose local and peer address and port are the request's (a TCP
// connection's 4-tuple is unique while it is open, and it stays open while its handler runs).
#pragma once
#include <sys/socket.h>

#include <string>

namespace xsam_server {

// The numeric address ("127.0.0.1", "::1") and port of an IPv4 or IPv6 socket address; false (ip empty,
// port -1) for any other family.
bool endpoint_text(const sockaddr_storage& sa, std::string* ip, int* port);

// The connection's file descriptor, or -1 when none matches (then disconnects go unnoticed).
int find_connection_socket(const std::string& local_addr, int local_port, const std::string& remote_addr,
                           int remote_port);

// True when the peer has closed its end (or the connection failed). Never blocks. A client that sends
// more bytes (pipelining) still counts as present.
bool peer_closed(int fd);

}  // namespace xsam_server
