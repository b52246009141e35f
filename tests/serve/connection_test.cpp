// The server's connection limits against a live server on loopback, with raw sockets as the clients:
// a request that trickles in (headers, body, or the next request on a kept-alive connection) is cut at
// its deadline while other clients are served; one address's connections beyond the cap get 429; a
// stop with idle connections open is prompt. Each case is bounded to a few seconds.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "devops_model/serve/server.h"
#include "test_util.h"

namespace dm {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct LimitedServer {
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Server> server;
  std::mutex mu;
  std::vector<json> log;

  explicit LimitedServer(ServerOptions o) {
    const std::string dir = test::fixture("tiny-qwen2");
    model = Model::load(dir);
    tok = Tokenizer::from_dir(dir);
    o.port = 0;
    o.access_log = [this](const std::string& line) {
      std::lock_guard<std::mutex> lk(mu);
      log.push_back(json::parse(line));
    };
    server = std::make_unique<Server>(*model, *tok, generation_params_from_dir(dir), o);
    server->start();
  }
  ~LimitedServer() { server.reset(); }
  int events(const std::string& name) {
    std::lock_guard<std::mutex> lk(mu);
    int n = 0;
    for (const auto& l : log) n += l.value("event", "") == name;
    return n;
  }
  int health_status() const {
    httplib::Client c("127.0.0.1", server->port());
    auto r = c.Get("/health");
    return r ? r->status : -1;
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(server->port()); }
};

// A raw TCP client.
struct Conn {
  int fd = -1;
  explicit Conn(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  ~Conn() { ::close(fd); }
  bool send_all(const std::string& s) const {
    return ::send(fd, s.data(), s.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(s.size());
  }
  // What the server sent within `ms` (until it closes or goes quiet); *closed: it closed the connection.
  std::string read_for(int ms, bool* closed = nullptr) const {
    std::string out;
    const auto end = Clock::now() + std::chrono::milliseconds(ms);
    if (closed) *closed = false;
    while (Clock::now() < end) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        if (closed) *closed = true;
        break;
      }
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }
  // Sends `text` a byte every 100 ms until the server closes the connection; the seconds that took, or
  // -1 if it was still open after `limit_s`.
  double trickle_until_cut(const std::string& text, double limit_s) const {
    const auto t0 = Clock::now();
    for (size_t i = 0;; ++i) {
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (s > limit_s) return -1;
      bool closed = false;
      read_for(100, &closed);
      if (closed || !send_all(std::string(1, text[i % text.size()]))) return s;
    }
  }
};

ServerOptions limits(int request_s, int idle_s, int per_client) {
  ServerOptions o;
  o.request_timeout_s = request_s;
  o.idle_timeout_s = idle_s;
  o.max_conns_per_client = per_client;
  return o;
}

TEST(ServeConnections, HeadersSentByteByByteAreCutAtTheDeadline) {
  LimitedServer s(limits(1, 5, 0));
  Conn slow(s.server->port());
  ASSERT_TRUE(slow.send_all("GET /health HTTP/1.1\r\nHost: " + s.host() + "\r\n"));
  std::thread other([&] {  // served meanwhile
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(s.health_status(), 200);
  });
  const double cut = slow.trickle_until_cut("X-Slow: aaaaaaaa\r\n", 6.0);
  other.join();
  EXPECT_GE(cut, 0.8);
  EXPECT_LE(cut, 3.0) << "-1: still open after 6 s";
  EXPECT_EQ(s.events("request_timeout"), 1);
}

TEST(ServeConnections, BodySentByteByByteIsCutAtTheDeadline) {
  LimitedServer s(limits(1, 5, 0));
  Conn slow(s.server->port());
  ASSERT_TRUE(slow.send_all("POST /v1/completions HTTP/1.1\r\nHost: " + s.host() +
                            "\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"prompt\":\""));
  const double cut = slow.trickle_until_cut("a", 6.0);
  EXPECT_GE(cut, 0.8);
  EXPECT_LE(cut, 3.0) << "-1: still open after 6 s";
}

// The next request on a kept-alive connection has its own deadline (idle wait + request time).
TEST(ServeConnections, SlowNextRequestOnAKeptAliveConnectionIsCut) {
  LimitedServer s(limits(1, 1, 0));
  Conn c(s.server->port());
  ASSERT_TRUE(c.send_all("GET /health HTTP/1.1\r\nHost: " + s.host() + "\r\n\r\n"));
  const std::string first = c.read_for(500);
  EXPECT_EQ(first.rfind("HTTP/1.1 200", 0), 0u) << first;
  const double cut = c.trickle_until_cut("GET /health HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 7.0);
  EXPECT_GE(cut, 1.0);  // 2 s from the response, less the time the first read above took
  EXPECT_LE(cut, 4.0) << "-1: still open after 7 s";
}

TEST(ServeConnections, ConnectionsOverThePerClientCapGet429) {
  auto s = std::make_unique<LimitedServer>(limits(30, 5, 2));
  auto a = std::make_unique<Conn>(s->server->port());
  Conn b(s->server->port());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // both accepted
  Conn third(s->server->port());
  bool closed = false;
  const std::string reply = third.read_for(2000, &closed);
  EXPECT_EQ(reply.rfind("HTTP/1.1 429 Too Many Requests", 0), 0u) << reply;
  EXPECT_NE(reply.find("\"code\":\"too_many_connections\""), std::string::npos) << reply;
  EXPECT_TRUE(closed);
  EXPECT_EQ(s->events("per_client_cap"), 1);
  // A closed connection frees its place.
  a.reset();
  int status = -1;
  for (int i = 0; i < 40 && status != 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    status = s->health_status();
  }
  EXPECT_EQ(status, 200);
  // Stopping with an idle connection still open (b) does not wait for its 30 s deadline.
  const auto t0 = Clock::now();
  s.reset();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 5.0);
}

// On loopback every local client shares 127.0.0.1: by default no cap there.
TEST(ServeConnections, NoPerClientCapOnLoopbackByDefault) {
  LimitedServer s(ServerOptions{});
  std::vector<std::unique_ptr<Conn>> idle;
  for (int i = 0; i < 20; ++i) idle.push_back(std::make_unique<Conn>(s.server->port()));
  EXPECT_EQ(s.health_status(), 200);
  EXPECT_EQ(s.events("per_client_cap"), 0);
}

}  // namespace
}  // namespace dm
