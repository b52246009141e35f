#include "serve/connection_guard.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>

namespace dm {
namespace {

// httplib serves one accepted socket through Server::process_and_close_socket, which is private and has
// no public twin; an explicit instantiation may name a private member ([temp.spec.general]), which hands
// our accept loop the pointer. The call stays virtual, so it is exactly what httplib's own loop runs.
using ServeSocketFn = bool (httplib::Server::*)(socket_t);
ServeSocketFn serve_socket_fn();
template <ServeSocketFn F>
struct ServeSocketAccess {
  friend ServeSocketFn serve_socket_fn() { return F; }
};
template struct ServeSocketAccess<&httplib::Server::process_and_close_socket>;

std::string key_of(const std::string& ip, int port) { return ip + " " + std::to_string(port); }

// The same text httplib puts in Request::remote_addr / remote_port (getnameinfo, numeric).
void peer_of(const sockaddr_storage& addr, socklen_t len, std::string* ip, int* port) {
  char host[NI_MAXHOST] = "";
  char serv[NI_MAXSERV] = "";
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    host[0] = serv[0] = '\0';
  *ip = host;
  *port = std::atoi(serv);
}

void set_timeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

void refuse_over_cap(int fd) {
  static const std::string body =
      R"j({"error":{"message":"too many open connections from this address (see --max-conns-per-client)",)j"
      R"j("type":"invalid_request_error","param":null,"code":"too_many_connections"}})j";
  const std::string reply = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  // One small non-blocking write on the accept thread; a client that does not read simply misses it.
  [[maybe_unused]] ssize_t n = ::send(fd, reply.data(), reply.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

}  // namespace

ConnectionGuard::ConnectionGuard(httplib::Server& svr, ConnectionLimits limits,
                                 std::function<void(const std::string&, const std::string&)> event)
    : svr_(svr), limits_(limits), event_(std::move(event)) {
  svr_.set_read_timeout(limits_.request_timeout_s);
  svr_.set_keep_alive_timeout(limits_.idle_timeout_s);
}

ConnectionGuard::~ConnectionGuard() { stop(); }

void ConnectionGuard::start(int listen_fd, size_t threads) {
  listen_fd_ = listen_fd;
  pool_ = std::make_unique<httplib::ThreadPool>(threads);
  watchdog_ = std::thread([this] { watchdog_loop(); });
  acceptor_ = std::thread([this] { accept_loop(); });
}

void ConnectionGuard::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || listen_fd_ < 0) return;
    stopping_ = true;
    // Waiting or half-sent requests end now; requests being handled finish and then close.
    for (auto& [key, c] : conns_)
      if (c.reading) ::shutdown(c.fd, SHUT_RDWR);
  }
  ::shutdown(listen_fd_, SHUT_RDWR);  // accept() returns
  if (acceptor_.joinable()) acceptor_.join();
  if (pool_) pool_->shutdown();  // joins the workers
  wake_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  ::close(listen_fd_);
}

void ConnectionGuard::accept_loop() {
  for (;;) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC);
    if (fd < 0) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_) return;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {  // out of descriptors: let connections close, try again
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      return;
    }
    std::string ip, key;
    int port = 0;
    peer_of(addr, len, &ip, &port);
    if (!admit(fd, ip, port, &key)) {
      if (event_) event_("per_client_cap", ip);  // logged first: the client may act on the reply at once
      refuse_over_cap(fd);
      continue;
    }
    set_timeouts(fd, limits_.request_timeout_s);  // as httplib's loop does with its read timeout
    pool_->enqueue([this, fd, key] {
      (svr_.*serve_socket_fn())(fd);  // closes fd
      forget(key);
    });
  }
}

ConnectionGuard::Clock::time_point ConnectionGuard::next_deadline(bool after_response) const {
  const int wait = limits_.request_timeout_s + (after_response ? limits_.idle_timeout_s : 0);
  return Clock::now() + std::chrono::seconds(wait);
}

bool ConnectionGuard::admit(int fd, const std::string& ip, int port, std::string* key) {
  std::lock_guard<std::mutex> lock(mu_);
  int& open = per_client_[ip];
  if (limits_.max_per_client > 0 && open >= limits_.max_per_client) {
    if (open == 0) per_client_.erase(ip);
    return false;
  }
  ++open;
  *key = key_of(ip, port);
  Connection& c = conns_[*key];
  c.fd = ::dup(fd);
  c.ip = ip;
  c.deadline = next_deadline(false);
  return true;
}

void ConnectionGuard::forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(key);
  if (it == conns_.end()) return;
  if (it->second.fd >= 0) ::close(it->second.fd);
  if (--per_client_[it->second.ip] <= 0) per_client_.erase(it->second.ip);
  conns_.erase(it);
}

void ConnectionGuard::request_read(const std::string& ip, int port) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(key_of(ip, port));
  if (it != conns_.end()) it->second.reading = false;
}

void ConnectionGuard::response_written(const std::string& ip, int port) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = conns_.find(key_of(ip, port));
  if (it == conns_.end()) return;
  it->second.reading = true;
  it->second.deadline = next_deadline(true);
  if (stopping_) ::shutdown(it->second.fd, SHUT_RDWR);  // no next request while stopping
}

// Cuts connections whose request has not fully arrived by its deadline: the worker's read fails and
// httplib closes the connection.
void ConnectionGuard::watchdog_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, std::chrono::milliseconds(100));
    const Clock::time_point now = Clock::now();
    for (auto& [key, c] : conns_) {
      if (!c.reading || c.cut || now < c.deadline) continue;
      if (event_) event_("request_timeout", c.ip);
      ::shutdown(c.fd, SHUT_RDWR);
      c.cut = true;
    }
  }
}

}  // namespace dm
