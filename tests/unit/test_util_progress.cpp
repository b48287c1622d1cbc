// The progress line's text for given numbers, and what Progress writes.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <string>

#include "util/log.hpp"
#include "util/progress.hpp"

namespace undocker {

namespace {

/// Everything written to the pipe so far (non-blocking read).
std::string drain(int fd) {
  std::string text;
  std::array<char, 4096> buffer{};
  for (ssize_t count; (count = ::read(fd, buffer.data(), buffer.size())) > 0;) {
    text.append(buffer.data(), static_cast<std::size_t>(count));
  }
  return text;
}

}  // namespace

TEST_CASE("util::format_bytes") {
  CHECK(format_bytes(0) == "0 B");
  CHECK(format_bytes(1023) == "1023 B");
  CHECK(format_bytes(1024) == "1.0 KiB");
  CHECK(format_bytes(1536) == "1.5 KiB");
  CHECK(format_bytes(1048575) == "1.0 MiB");
  CHECK(format_bytes(1288490189) == "1.2 GiB");
  CHECK(format_bytes(std::uint64_t{5} << 40) == "5.0 TiB");
}

TEST_CASE("util::render_line") {
  ProgressState state;
  state.layer_index = 1;
  state.layer_count = 5;
  state.layer_id = "sha256:ea13149945cb6b1e746bf28032f02e9b5a793523481a0a18645fc77ad53c4ea2";
  state.entries = 1234;
  state.bytes_done = 1288490189;
  state.total_bytes = 3650722202;
  state.elapsed_seconds = 10;
  CHECK(render_line(state) == "layer 2/5 ea13149945cb  1234 entries  1.2 GiB / 3.4 GiB  122.9 MiB/s  0:18 left");

  SUBCASE("unknown total: no total, no time left") {
    state.total_bytes = 0;
    CHECK(render_line(state) == "layer 2/5 ea13149945cb  1234 entries  1.2 GiB  122.9 MiB/s");
  }
  SUBCASE("too early for a rate") {
    state.elapsed_seconds = 0.2;
    CHECK(render_line(state) == "layer 2/5 ea13149945cb  1234 entries  1.2 GiB / 3.4 GiB");
  }
  SUBCASE("hours left, an id without algorithm, no id") {
    state.bytes_done = 1024 * 1024;
    state.total_bytes = std::uint64_t{4} << 30;
    state.elapsed_seconds = 1;
    state.layer_id = "0123456789abcdef";
    CHECK(render_line(state) == "layer 2/5 0123456789ab  1234 entries  1.0 MiB / 4.0 GiB  1.0 MiB/s  1:08:15 left");
    state.layer_id.clear();
    CHECK(render_line(state) == "layer 2/5  1234 entries  1.0 MiB / 4.0 GiB  1.0 MiB/s  1:08:15 left");
  }
  SUBCASE("done past the total") {
    state.bytes_done = state.total_bytes + 1;
    CHECK(render_line(state).ends_with("  0:00 left"));
  }
  SUBCASE("narrower than the line: whole parts left out, never a word cut") {
    const std::string whole = render_line(state);
    CHECK(render_line(state, whole.size()) == whole);
    CHECK(render_line(state, whole.size() - 1) == "layer 2/5  1234 entries  1.2 GiB / 3.4 GiB  122.9 MiB/s  0:18 left");
    CHECK(render_line(state, 60) == "layer 2/5  1234 entries  1.2 GiB / 3.4 GiB  0:18 left");
    CHECK(render_line(state, 40) == "layer 2/5  1.2 GiB / 3.4 GiB  0:18 left");
    CHECK(render_line(state, 30) == "layer 2/5  1.2 GiB / 3.4 GiB");
    CHECK(render_line(state, 20) == "layer 2/5");
    CHECK(render_line(state, 8).empty());
    for (std::size_t width = 1; width <= whole.size(); ++width) {
      CAPTURE(width);
      const std::string line = render_line(state, width);
      CHECK(line.size() <= width);
      CHECK((line.empty() || line.starts_with("layer 2/5")));
    }
  }
  SUBCASE("one entry") {
    state.entries = 1;
    CHECK(render_line(state).find("  1 entry  ") != std::string::npos);
  }
}

TEST_CASE("util::count_of: singular and plural") {
  CHECK(count_of(0, "layer") == "0 layers");
  CHECK(count_of(1, "layer") == "1 layer");
  CHECK(count_of(2, "layer") == "2 layers");
  CHECK(count_of(1, "entry", "entries") == "1 entry");
  CHECK(count_of(3, "entry", "entries") == "3 entries");
}

TEST_CASE("util::Progress draws at most every interval and clears the line") {
  std::array<int, 2> pipe_fds{};
  REQUIRE(::pipe2(pipe_fds.data(), O_NONBLOCK | O_CLOEXEC) == 0);
  {
    Progress progress(0, 2, true, pipe_fds[1]);
    progress.begin_layer(0, "abc");
    CHECK(drain(pipe_fds[0]) == "\rlayer 1/2 abc  0 entries  0 B\x1b[K");
    progress.advance(3, 2048);  // within the interval: counted, not drawn
    CHECK(drain(pipe_fds[0]).empty());
    progress.finish();
    CHECK(drain(pipe_fds[0]) == "\r\x1b[K");
    progress.advance(1, 1);  // finished: quiet
  }
  CHECK(drain(pipe_fds[0]).empty());
  {
    Progress quiet(100, 1, false, pipe_fds[1]);
    quiet.begin_layer(0, "abc");
    quiet.advance(1, 1);
  }
  CHECK(drain(pipe_fds[0]).empty());
  ::close(pipe_fds[0]);
  ::close(pipe_fds[1]);
}

}  // namespace undocker
