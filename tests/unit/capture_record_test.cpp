// SPDX-License-Identifier: MIT
// capture_record: each file read once, later reads pinned to the first, so
// that one report and the tree written from it rest on the same bytes.
#include <headroom/capture_record.hpp>
#include <headroom/memory.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../support/doctest.hpp"
#include "../support/layouts.hpp"

using namespace headroom;
using namespace headroom_test;

TEST_CASE(
    "capture_record: the first read of a file is the one every read gets") {
  capture_record rec;
  CHECK(*rec.pin("/a", "/r/a", std::string("one")) == "one");
  CHECK(*rec.pin("/a", "/r/a", std::string("two")) == "one");
  // A failed read after a good one still gets the bytes of the good one.
  CHECK(*rec.pin("/a", "/r/a", result<std::string>(errc::malformed, "/r/a")) ==
        "one");
  // The same logical path from another real file is not pinned to it.
  CHECK(*rec.pin("/a", "/other/a", std::string("three")) == "three");
  // A failed first read records nothing.
  CHECK_FALSE(
      rec.pin("/b", "/r/b", result<std::string>(errc::malformed, "/r/b")));
  const auto files = rec.files();
  REQUIRE(files.size() == 2);
  CHECK(files[0].logical == "/a");
  CHECK(files[0].real == "/r/a");
  CHECK(*files[0].bytes == "one");
  CHECK(files[1].logical == "/b");
  CHECK_FALSE(files[1].bytes.has_value());
}

TEST_CASE("capture_record: reads into a buffer, a full one included") {
  capture_record rec;
  char buf[8];
  std::memcpy(buf, "12\n", 3);
  auto got = rec.pin_into("/n", "/r/n", std::string_view(buf, 3), buf,
                          sizeof buf, "/r/n");
  CHECK(*got == "12\n");
  std::memcpy(buf, "99\n", 3);
  got = rec.pin_into("/n", "/r/n", std::string_view(buf, 3), buf, sizeof buf,
                     "/r/n");
  CHECK(*got == "12\n");
  // Recorded bytes that would fill a smaller buffer are malformed, as the
  // read itself would have been.
  char small[3];
  got = rec.pin_into("/n", "/r/n", std::string_view(small, 0), small,
                     sizeof small, "/r/n");
  REQUIRE_FALSE(got);
  CHECK(got.error().code == errc::malformed);
  // A read that filled the buffer is kept whole, and replays as one.
  std::memcpy(buf, "01234567", 8);
  got = rec.pin_into("/full", "/r/full",
                     result<std::string_view>(errc::malformed, "/r/full"), buf,
                     sizeof buf, "/r/full");
  CHECK_FALSE(got);
  got = rec.pin_into("/full", "/r/full", std::string_view(buf, 1), buf,
                     sizeof buf, "/r/full");
  REQUIRE_FALSE(got);
  CHECK(got.error().code == errc::malformed);
  CHECK(rec.files().back().bytes->size() == 8);
}

TEST_CASE("capture_record: a reader given one reads a changing file once") {
  fixture_tree t;
  layout_docker_v1(t);
  options o;
  o.root = t.root();
  o.record = std::make_shared<capture_record>();
  auto r = memory_reader::open(o);
  REQUIRE(r);
  const auto first = r->snapshot();
  REQUIRE(first.usage);
  t.file("sys/fs/cgroup/memory/memory.usage_in_bytes", "4096\n");
  const auto second = r->snapshot();
  REQUIRE(second.usage);
  CHECK(*second.usage == *first.usage);
  bool usage_recorded = false;
  for (const auto& f : o.record->files()) {
    if (f.logical == "/sys/fs/cgroup/memory/memory.usage_in_bytes")
      usage_recorded = f.bytes && *f.bytes != "4096\n";
  }
  CHECK(usage_recorded);
  // Without a record, the change is seen.
  o.record.reset();
  auto live = memory_reader::open(o);
  REQUIRE(live);
  CHECK(*live->snapshot().usage == 4096);
}

TEST_CASE("capture_record: shared by threads") {
  capture_record rec;
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&rec, k] {
      for (int i = 0; i < 200; ++i) {
        const std::string name = "/f" + std::to_string(i % 20);
        rec.note(name, "/r" + name);
        rec.note_directory("/d" + std::to_string(i % 5));
        (void)rec.pin(name, "/r" + name, std::to_string(k));
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(rec.files().size() == 20);
  CHECK(rec.directories().size() == 5);
  for (const auto& f : rec.files()) CHECK(f.bytes.has_value());
}
