// The fast RTL runner's harness: the Verilated chip driven from a file of host command words.
//
// spikemesh.firmware.rtl_runner writes the case file, builds this harness with Verilator
// (--exe) next to the chip's Verilog, runs it, and reads the response file back. The
// harness drives i_cmd exactly as rtl_loader.py's ChipTB does under cocotb, so both runners
// give the same responses on the same cycles:
//
//   - reset: rst = 1, i_cmd.valid = 0, o_rsp.ready = 1 for three rising edges, then rst = 0;
//   - cycle 0 is the first cycle after reset; in cycle c the host raises i_cmd.valid (while
//     words remain) if the case's schedule allows it in c, and holds it until the word is
//     taken (the stream rule); o_rsp.ready in cycle c is the schedule's ready bit. Without a
//     schedule the host always offers its next command and is always ready;
//   - a response is recorded with the cycle in which valid and ready were both high;
//   - the case stops once every command has been taken, `expected` responses (if given)
//     have come and the chip has been quiet (no response, not running) for 64 cycles, or
//     after max_cycles.
//
// Inputs change after the rising edge, as under cocotb (in the waves, on the falling edge);
// there is no negedge logic in the chip, so every rising edge sees the same values.
//
// Case file (text, hexadecimal words without 0x):
//   spikemesh-cases 2
//   case <n_words> <expected_count or -1> <max_cycles> <n_mem_writes> <schedule_length>
//   <n_mem_writes lines: memory-id index data>      direct image load, before cycle 0
//   <if schedule_length > 0: two lines of that many 0/1 characters: valid, then ready;
//    cycle c uses character c % schedule_length>
//   <n_words lines: command word>
//   ... more cases ...
// Response file: per case "case <k> <n>" then n lines "<cycle> <word>", then "end".
//
// chip_mems.h (generated per chip configuration by rtl_runner.py) defines
// write_memory(root, id, index, words) over the cores' memories and MEM_COUNT.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "Vchip.h"
#include "Vchip___024root.h"
#include "verilated.h"

#if VM_TRACE_FST
#include "verilated_fst_c.h"
using TraceFile = VerilatedFstC;
#elif VM_TRACE
#include "verilated_vcd_c.h"
using TraceFile = VerilatedVcdC;
#endif

static const int MAX_WORDS32 = 16;  // 512-bit words at most
struct Word {
    uint32_t w[MAX_WORDS32];
};

[[noreturn]] static void fail(const std::string& msg) {
    std::fprintf(stderr, "chip_sim: %s\n", msg.c_str());
    std::exit(2);
}

// Ports and memory words of any width: CData/SData/IData/QData or VlWide<N>.
template <typename T>
static void put(T& dst, const uint32_t* w) {
    if constexpr (sizeof(T) <= 4) {
        dst = static_cast<T>(w[0]);
    } else {
        dst = static_cast<T>((static_cast<uint64_t>(w[1]) << 32) | w[0]);
    }
}
template <std::size_t N>
static void put(VlWide<N>& dst, const uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) dst[i] = w[i];
}
template <typename T>
static void get(const T& src, uint32_t* w) {
    uint64_t v = static_cast<uint64_t>(src);
    w[0] = static_cast<uint32_t>(v);
    w[1] = static_cast<uint32_t>(v >> 32);
}
template <std::size_t N>
static void get(const VlWide<N>& src, uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) w[i] = src[i];
}

#include "chip_mems.h"

// The falling edge without an eval(). Every eval() recomputes the logic that depends on the
// top-level inputs (rst among them, so nearly all of it), so an eval() on the falling edge,
// where nothing changes, costs as much as the rising edge's. Verilator (5.x) detects the
// rising edge by comparing clk with the value it saw at the last eval(); setting that value
// to 0 is what the falling-edge eval() would have done. The chip's outputs the harness
// samples are registers or depend on registers only (Moore), so they need no eval() after
// the inputs change. If the internal variable is not there (another Verilator), the harness
// falls back to the eval().
template <typename R, typename = void>
struct HasClockPrev : std::false_type {};
template <typename R>
struct HasClockPrev<R, std::void_t<decltype(std::declval<R&>().__Vtrigprevexpr___TOP__clk__0)>>
    : std::true_type {};
template <typename R>
static void clock_low(Vchip* top, R* root) {
    top->clk = 0;
    if constexpr (HasClockPrev<R>::value) {
        root->__Vtrigprevexpr___TOP__clk__0 = 0;
    } else {
        top->eval();
    }
}

static Word parse_hex(const char* s, const char* what) {
    Word out{};
    std::size_t n = std::strlen(s);
    if (n == 0 || n > MAX_WORDS32 * 8) fail(std::string("bad ") + what + " word '" + s + "'");
    for (std::size_t k = 0; k < n; ++k) {
        char c = s[n - 1 - k];
        uint32_t d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else fail(std::string("bad hex digit in ") + what + " word '" + s + "'");
        out.w[k / 8] |= d << (4 * (k % 8));
    }
    return out;
}

static void print_hex(FILE* f, const uint32_t* w, int n32) {
    int top = n32 - 1;
    while (top > 0 && w[top] == 0) --top;
    std::fprintf(f, "%x", w[top]);
    for (int i = top - 1; i >= 0; --i) std::fprintf(f, "%08x", w[i]);
}

struct MemWrite {
    int id;
    uint32_t index;
    Word data;
};
struct Case {
    std::vector<Word> words;
    long long expected_count;
    long long max_cycles;
    std::vector<MemWrite> mem;
    std::string valid, ready;  // the host's schedule ("1" each when the case has none)
};

static std::string read_bits(FILE* f, long long n, const char* what) {
    std::string out;
    out.reserve(n);
    int ch;
    while ((ch = std::fgetc(f)) == ' ' || ch == '\n') {
    }
    while (ch == '0' || ch == '1') {
        out.push_back(static_cast<char>(ch));
        ch = std::fgetc(f);
    }
    if (static_cast<long long>(out.size()) != n)
        fail(std::string("the schedule's ") + what + " is not " + std::to_string(n) +
             " characters of 0 and 1");
    return out;
}

static std::vector<Case> read_cases(const char* path) {
    FILE* f = std::fopen(path, "r");
    if (!f) fail(std::string("cannot open the case file ") + path);
    char tok[MAX_WORDS32 * 8 + 2];
    int version = 0;
    if (std::fscanf(f, "spikemesh-cases %d", &version) != 1 || version != 2)
        fail("the case file does not start with 'spikemesh-cases 2'");
    std::vector<Case> cases;
    long long nw, nm, ns;
    while (std::fscanf(f, " case %lld", &nw) == 1) {
        Case c;
        if (std::fscanf(f, "%lld %lld %lld %lld", &c.expected_count, &c.max_cycles, &nm, &ns) !=
            4)
            fail("a truncated case header");
        for (long long k = 0; k < nm; ++k) {
            MemWrite m;
            if (std::fscanf(f, "%d %u %130s", &m.id, &m.index, tok) != 3)
                fail("a truncated memory write");
            if (m.id < 0 || m.id >= MEM_COUNT) fail("a memory id out of range");
            m.data = parse_hex(tok, "memory");
            c.mem.push_back(m);
        }
        if (ns > 0) {
            c.valid = read_bits(f, ns, "valid");
            c.ready = read_bits(f, ns, "ready");
        } else {
            c.valid = c.ready = "1";
        }
        for (long long k = 0; k < nw; ++k) {
            if (std::fscanf(f, "%130s", tok) != 1) fail("a truncated command list");
            c.words.push_back(parse_hex(tok, "command"));
        }
        cases.push_back(std::move(c));
    }
    std::fclose(f);
    return cases;
}

int main(int argc, char** argv) {
    const char* case_path = nullptr;
    const char* out_path = nullptr;
    const char* waves_path = nullptr;
    long long waves_from = -1, waves_to = -1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) fail("option " + a + " needs a value");
            return argv[++i];
        };
        if (a == "--cases") case_path = next();
        else if (a == "--out") out_path = next();
        else if (a == "--waves") waves_path = next();
        else if (a == "--waves-from") waves_from = std::atoll(next());
        else if (a == "--waves-to") waves_to = std::atoll(next());
        else fail("unknown option " + a);
    }
    if (!case_path || !out_path) fail("usage: chip_sim --cases FILE --out FILE [--waves FILE]");
    std::vector<Case> cases = read_cases(case_path);

    auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);
    ctx->fatalOnError(false);  // a failed assertion ends the run with a message, see below
    auto top = std::make_unique<Vchip>(ctx.get(), "chip");

#if VM_TRACE
    std::unique_ptr<TraceFile> tfp;
    if (waves_path) {
        ctx->traceEverOn(true);
        tfp = std::make_unique<TraceFile>();
        top->trace(tfp.get(), 99);
        tfp->open(waves_path);
    }
#else
    if (waves_path) fail("this build has no tracing; rebuild with waves");
#endif
    // Waves: every half cycle, or only ticks waves_from..waves_to (by the chip's tick counter:
    // from the first cycle tick A runs to the last cycle the counter reads B).
    bool window_open = waves_from < 0;
    uint64_t period = 0;  // cocotb's clock: 10 ns period, low at 0, rising edges at 5, 15, 25 ns
    uint64_t time_ps = 0;
    auto dump = [&]() {
#if VM_TRACE
        if (!tfp) return;
        if (!window_open && top->running && (long long)top->tick == waves_from)
            window_open = true;
        if (window_open && (waves_to < 0 || (long long)top->tick <= waves_to))
            tfp->dump(time_ps);
#endif
    };
    auto check = [&]() {
        if (ctx->gotError() || ctx->gotFinish()) {
#if VM_TRACE
            if (tfp) tfp->close();
#endif
            fail("the simulation stopped (an assertion failed or $finish) at " +
                 std::to_string(time_ps / 1000) + " ns");
        }
    };
    // One clock period: falling edge with the new inputs (evaluated, then sampled by the
    // caller), rising edge.
    auto fall = [&]() {
#if VM_TRACE
        top->clk = 0;
        top->eval();  // the waves show the inputs changing on the falling edge
        time_ps = period * 10000;
        dump();
#else
        clock_low(top.get(), top->rootp);
#endif
    };
    auto rise = [&]() {
        top->clk = 1;
        top->eval();
        time_ps = period * 10000 + 5000;
        ++period;
        dump();
        check();
    };

    FILE* out = std::fopen(out_path, "w");
    if (!out) fail(std::string("cannot write ") + out_path);
    top->clk = 0;
    top->rst = 1;
#if !VM_TRACE
    top->eval();  // initial values with the clock low, so the first rising edge is one
#endif
    const int RSP32 = (sizeof(top->o_rsp___05Fpayload) + 3) / 4;
    for (std::size_t k = 0; k < cases.size(); ++k) {
        Case& c = cases[k];
        top->rst = 1;
        top->i_cmd___05Fvalid = 0;
        top->o_rsp___05Fready = 1;
        for (int e = 0; e < 3; ++e) {
            fall();
            rise();
        }
        for (const MemWrite& m : c.mem) write_memory(top->rootp, m.id, m.index, m.data.w);
        top->rst = 0;
        std::size_t pos = 0, n = c.words.size();
        const std::size_t period = c.valid.size();
        if (n) put(top->i_cmd___05Fpayload, c.words[0].w);
        std::vector<std::pair<long long, Word>> got;
        long long cycle = 0, quiet = 0;
        bool offered = false;  // valid was high in the last cycle and the word not taken
        while (cycle <= c.max_cycles) {
            const std::size_t phase = static_cast<std::size_t>(cycle) % period;
            bool offer = pos < n && (offered || c.valid[phase] == '1');
            top->i_cmd___05Fvalid = offer ? 1 : 0;
            top->o_rsp___05Fready = c.ready[phase] == '1' ? 1 : 0;
            fall();
            bool took = offer && top->i_cmd___05Fready;
            bool rsp_valid = top->o_rsp___05Fvalid;
            bool rsp = rsp_valid && top->o_rsp___05Fready;
            if (rsp) {
                Word w{};
                get(top->o_rsp___05Fpayload, w.w);
                got.emplace_back(cycle, w);
            }
            bool running = top->running;
            rise();
            ++cycle;
            offered = offer && !took;
            if (took) {
                ++pos;
                if (pos < n) put(top->i_cmd___05Fpayload, c.words[pos].w);
            }
            bool done = pos == n && (c.expected_count < 0 || (long long)got.size() >= c.expected_count);
            quiet = (done && !rsp_valid && !running) ? quiet + 1 : 0;
            if (quiet > 64) break;
        }
        std::fprintf(out, "case %zu %zu\n", k, got.size());
        for (auto& [cy, w] : got) {
            std::fprintf(out, "%lld ", cy);
            print_hex(out, w.w, RSP32);
            std::fputc('\n', out);
        }
    }
    std::fprintf(out, "end\n");
    std::fclose(out);
#if VM_TRACE
    if (tfp) tfp->close();
#endif
    top->final();
    return 0;
}
