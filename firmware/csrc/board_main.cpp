// The simulated board: the Verilated SpikemeshTop (UART + HostBridge + the real Chip)
// with its serial pins bridged to a TCP socket on 127.0.0.1, so that a host program opens
// it like a serial port (pyserial: serial.serial_for_url("socket://127.0.0.1:PORT")).
//
// spikemesh.firmware.board_runner builds this harness with Verilator next to the board's
// Verilog (cached, see board_sim_build) and starts it; it prints one line
//
//   spikemesh-board-sim listening 127.0.0.1 <port>
//
// on stdout once the socket listens. Bytes from the client are shifted into the `rx` pin as
// 8N1 frames, `divisor` clock cycles per bit (back to back, one stop bit); the `tx` pin is
// sampled in the middle of each bit and every byte goes back to the client. One client at a
// time: a second connection is closed at once (a serial port is not shared); when the client
// goes away the board keeps its state, as a real board does, and the next one is accepted.
//
// Time: the design runs as fast as Verilator goes while bytes move or the chip runs a tick
// (the `running` LED); after IDLE_CYCLES quiet cycles it waits for the socket in poll() so an
// idle board takes no CPU. Simulated time is not wall time: the host's timeouts see a board
// that answers as fast as the simulation allows.
//
// Options: --divisor D (clock cycles per UART bit, >= 4), --port P (0: any free port),
//          --max-seconds S (stop after S seconds of wall time; 0: never).
// An RTL assertion or $finish ends the process with status 3 and a message on stderr.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>

#include "Vboard.h"
#include "verilated.h"

static const uint64_t IDLE_CYCLES = 20000;  // quiet cycles before the harness sleeps in poll()
static const int POLL_EVERY = 256;          // cycles between socket polls while busy
static const int LED_RUNNING = 1 << 2;      // rtl/boards.py LED_ROLES: heartbeat, error, running, activity

[[noreturn]] static void fail(const std::string& msg) {
    std::fprintf(stderr, "board_sim: %s\n", msg.c_str());
    std::exit(2);
}

static void set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) fail("fcntl O_NONBLOCK failed");
}

int main(int argc, char** argv) {
    long divisor = 4;
    long port = 0;
    double max_seconds = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) fail("option " + a + " needs a value");
            return argv[++i];
        };
        if (a == "--divisor") divisor = std::atol(next());
        else if (a == "--port") port = std::atol(next());
        else if (a == "--max-seconds") max_seconds = std::atof(next());
        else fail("unknown option " + a);
    }
    if (divisor < 4) fail("--divisor must be at least 4 (the UART's minimum)");
    if (port < 0 || port > 65535) fail("--port must be 0..65535");
    // Started by a Python process (a test, `spikemesh board-sim`): die with it, never linger.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGPIPE, SIG_IGN);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) fail("socket() failed");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // loopback only
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        fail("cannot bind 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
    if (listen(lfd, 1) < 0) fail("listen() failed");
    socklen_t len = sizeof addr;
    getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
    set_nonblocking(lfd);

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
    ctx->fatalOnError(false);
    auto top = std::make_unique<Vboard>(ctx.get(), "board");

    auto step = [&]() {
        top->clk = 0;
        top->eval();
        top->clk = 1;
        top->eval();
        if (ctx->gotError() || ctx->gotFinish()) {
            std::fprintf(stderr, "board_sim: the simulation stopped (an RTL assertion failed or "
                                 "$finish)\n");
            std::exit(3);
        }
    };
    top->rx = 1;
    top->rst = 1;
    for (int k = 0; k < 4; ++k) step();
    top->rst = 0;

    std::printf("spikemesh-board-sim listening 127.0.0.1 %d\n", ntohs(addr.sin_port));
    std::fflush(stdout);

    int cfd = -1;
    std::deque<uint8_t> to_rx;   // client -> rx pin
    std::string to_client;       // tx pin -> client
    // rx driver: the bits of the byte being sent, LSB first (start, 8 data, stop)
    int rx_bit = -1;             // -1: line idle
    long rx_left = 0;            // cycles left in the current bit
    uint16_t rx_frame = 0;
    // tx receiver
    int tx_state = 0;            // 0 idle, 1 start bit, 2 data bits, 3 stop bit
    long tx_wait = 0;
    int tx_bits = 0;
    uint8_t tx_byte = 0;
    uint64_t quiet = 0, cycle = 0;
    auto t0 = std::chrono::steady_clock::now();

    auto drop_client = [&]() {
        if (cfd >= 0) close(cfd);
        cfd = -1;
        to_rx.clear();
        to_client.clear();
    };
    auto service = [&](int timeout_ms) {
        pollfd p[2];
        int n = 0;
        p[n++] = {lfd, POLLIN, 0};
        if (cfd >= 0) {
            short ev = POLLIN;
            if (!to_client.empty()) ev |= POLLOUT;
            p[n++] = {cfd, ev, 0};
        }
        if (poll(p, n, timeout_ms) <= 0) return;
        if (p[0].revents & POLLIN) {
            int fd = accept(lfd, nullptr, nullptr);
            if (fd >= 0) {
                if (cfd >= 0) {
                    close(fd);  // busy: one host at a time, like a serial port
                } else {
                    cfd = fd;
                    set_nonblocking(cfd);
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                }
            }
        }
        if (n == 2 && cfd >= 0) {
            if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
                uint8_t buf[4096];
                ssize_t got = read(cfd, buf, sizeof buf);
                if (got > 0) to_rx.insert(to_rx.end(), buf, buf + got);
                else if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) drop_client();
            }
            if (cfd >= 0 && !to_client.empty() && (p[1].revents & POLLOUT)) {
                ssize_t put = write(cfd, to_client.data(), to_client.size());
                if (put > 0) to_client.erase(0, static_cast<size_t>(put));
                else if (put < 0 && errno != EAGAIN && errno != EWOULDBLOCK) drop_client();
            }
        }
    };

    while (true) {
        bool idle = rx_bit < 0 && to_rx.empty() && tx_state == 0 && to_client.empty();
        if (idle && !(top->leds & LED_RUNNING)) ++quiet;
        else quiet = 0;
        if (quiet > IDLE_CYCLES) {
            service(50);  // nothing to simulate until the host writes
            if (max_seconds > 0) {
                std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
                if (dt.count() > max_seconds) break;
            }
            if (to_rx.empty()) continue;
            quiet = 0;
        } else if (cycle % POLL_EVERY == 0) {
            service(0);
            if (max_seconds > 0 && cycle % (POLL_EVERY * 1024) == 0) {
                std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
                if (dt.count() > max_seconds) break;
            }
        }

        // host -> rx pin
        if (rx_bit < 0 && !to_rx.empty()) {
            rx_frame = static_cast<uint16_t>((1u << 9) | (to_rx.front() << 1));  // stop, data, start
            to_rx.pop_front();
            rx_bit = 0;
            rx_left = divisor;
        }
        top->rx = rx_bit < 0 ? 1 : (rx_frame >> rx_bit) & 1;
        step();
        ++cycle;
        if (rx_bit >= 0 && --rx_left == 0) {
            rx_left = divisor;
            if (++rx_bit == 10) rx_bit = -1;
        }

        // tx pin -> host: sample in the middle of each bit
        int tx = top->tx & 1;
        switch (tx_state) {
        case 0:
            if (!tx) { tx_state = 1; tx_wait = divisor / 2; }
            break;
        case 1:
            if (--tx_wait == 0) {
                if (tx) tx_state = 0;  // a glitch, not a start bit
                else { tx_state = 2; tx_wait = divisor; tx_bits = 0; tx_byte = 0; }
            }
            break;
        case 2:
            if (--tx_wait == 0) {
                tx_byte |= static_cast<uint8_t>(tx << tx_bits);
                tx_wait = divisor;
                if (++tx_bits == 8) tx_state = 3;
            }
            break;
        case 3:
            if (--tx_wait == 0) {
                if (!tx) fail("a stop bit was low on tx (the UART transmitter is broken)");
                if (cfd >= 0) to_client.push_back(static_cast<char>(tx_byte));
                tx_state = 0;
            }
            break;
        }
    }
    top->final();
    return 0;
}
