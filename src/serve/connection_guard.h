// The server's own accept loop in front of httplib: a per-client-address connection cap and a deadline on
// reading each request. httplib 0.11 (Debian's shared library) times out single reads only, so a client
// that sends its headers a byte at a time held a worker thread for as long as it liked.
#pragma once
#include <httplib.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace dm {

struct ConnectionLimits {
  int request_timeout_s = 30;  // a request's headers and body must arrive within this (and each read)
  int idle_timeout_s = 5;      // a kept-alive connection may wait this long for its next request
  int max_per_client = 0;      // open connections per client address; 0: no cap
};

class ConnectionGuard {
 public:
  // `event` gets a line for each refused or cut connection ("per_client_cap" / "request_timeout", client).
  ConnectionGuard(httplib::Server& svr, ConnectionLimits limits,
                  std::function<void(const std::string& event, const std::string& client)> event);
  ~ConnectionGuard();  // stops

  // Serves the bound, listening socket on a background thread: admitted connections run httplib's
  // request loop on a pool of `threads` workers.
  void start(int listen_fd, size_t threads);
  // Stops accepting, cuts idle connections, lets running requests finish, joins everything.
  void stop();

  // From the handlers (httplib's Request carries the peer's address and port): the request has been read
  // (its deadline is off while it is handled) / its response is written (the next one's deadline starts).
  void request_read(const std::string& ip, int port);
  void response_written(const std::string& ip, int port);

 private:
  using Clock = std::chrono::steady_clock;
  struct Connection {
    int fd = -1;  // a dup of the socket: shutdown() through it can never hit a reused descriptor number
    std::string ip;
    Clock::time_point deadline;
    bool reading = true, cut = false;
  };
  void accept_loop();
  bool admit(int fd, const std::string& ip, int port, std::string* key);
  void forget(const std::string& key);
  void watchdog_loop();
  Clock::time_point next_deadline(bool after_response) const;

  httplib::Server& svr_;
  ConnectionLimits limits_;
  std::function<void(const std::string&, const std::string&)> event_;
  int listen_fd_ = -1;
  std::unique_ptr<httplib::TaskQueue> pool_;
  std::thread acceptor_, watchdog_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, Connection> conns_;  // "ip port" -> connection
  std::map<std::string, int> per_client_;    // ip -> open connections
};

}  // namespace dm
