// SPDX-License-Identifier: MIT
// A checker of the Prometheus text exposition format 0.0.4, strict enough to
// catch what Prometheus (or node-exporter's textfile collector) would
// refuse: UTF-8 throughout; metric and label names; label syntax and its
// three escapes; HELP escapes; values; one HELP and one TYPE per family,
// both before its samples; a family's samples together; no series twice.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "doctest.hpp"
#include "utf8.hpp"

namespace headroom_test {

// One sample of the text exposition format: name{labels} value.
struct prom_sample {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string value;
};

struct prom_text {
  std::vector<prom_sample> samples;
  std::map<std::string, std::string> types;  // from "# TYPE name type"
  std::vector<std::string> comments;         // every other "# ..." line
};

// Parses the exposition text strictly enough to catch what Prometheus would
// refuse: names, label syntax and escapes, values, a TYPE line before the
// family's samples and at most one per family.
inline prom_text parse_prometheus(const std::string& text) {
  static const std::regex name_re("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::regex value_re(
      "-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?|NaN|[-+]Inf");
  prom_text p;
  REQUIRE_MESSAGE((!text.empty() && text.back() == '\n'),
                  "the text must end with a newline");
  REQUIRE_MESSAGE(valid_utf8(text), "the exposition format is UTF-8");
  std::set<std::string> helped;   // families with a HELP line
  std::set<std::string> sampled;  // families with samples so far
  std::set<std::string> series;   // name{labels}: each at most once
  std::string current;            // the family of the previous sample
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t nl = text.find('\n', at);
    const std::string line = text.substr(at, nl - at);
    at = nl + 1;
    CAPTURE(line);
    REQUIRE_FALSE(line.empty());
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::string rest = line.substr(7);
      const std::size_t sp = rest.find(' ');
      REQUIRE(sp != std::string::npos);
      const std::string name = rest.substr(0, sp);
      const std::string type = rest.substr(sp + 1);
      REQUIRE(std::regex_match(name, name_re));
      REQUIRE((type == "gauge" || type == "counter"));
      REQUIRE_MESSAGE(p.types.count(name) == 0, "two TYPE lines for " << name);
      REQUIRE_MESSAGE(sampled.count(name) == 0,
                      "TYPE after the samples of " << name);
      p.types[name] = type;
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string rest = line.substr(7);
      const std::string name = rest.substr(0, rest.find(' '));
      REQUIRE(std::regex_match(name, name_re));
      REQUIRE_MESSAGE(helped.insert(name).second,
                      "two HELP lines for " << name);
      REQUIRE_MESSAGE(sampled.count(name) == 0,
                      "HELP after the samples of " << name);
      for (std::size_t k = name.size(); k < rest.size(); ++k) {
        if (rest[k] == '\\') {
          REQUIRE_MESSAGE(k + 1 < rest.size(), "HELP ends in a backslash");
          const char e = rest[++k];
          REQUIRE_MESSAGE((e == '\\' || e == 'n'),
                          "HELP escapes only \\\\ and \\n");
        }
      }
      continue;
    }
    if (line[0] == '#') {
      p.comments.push_back(line);
      continue;
    }
    prom_sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    REQUIRE(std::regex_match(s.name, name_re));
    REQUIRE_MESSAGE(p.types.count(s.name) == 1,
                    "sample before its TYPE: " << s.name);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (line.at(i) != '}') {
        const std::size_t eq = line.find('=', i);
        REQUIRE(eq != std::string::npos);
        const std::string key = line.substr(i, eq - i);
        REQUIRE(std::regex_match(key, name_re));
        REQUIRE(line.at(eq + 1) == '"');
        std::string value;
        std::size_t j = eq + 2;
        for (; line.at(j) != '"'; ++j) {
          if (line[j] == '\\') {
            const char e = line.at(++j);
            REQUIRE((e == '\\' || e == '"' || e == 'n'));
            value += e == 'n' ? '\n' : e;
          } else {
            value += line[j];
          }
        }
        REQUIRE_MESSAGE(s.labels.count(key) == 0, "label " << key << " twice");
        s.labels[key] = value;
        i = j + 1;
        if (line.at(i) == ',') ++i;
      }
      ++i;
    }
    REQUIRE(line.at(i) == ' ');
    s.value = line.substr(i + 1);
    REQUIRE(std::regex_match(s.value, value_re));
    // The samples of a family are contiguous, and no series repeats.
    if (s.name != current) {
      REQUIRE_MESSAGE(sampled.insert(s.name).second,
                      "the samples of " << s.name << " are split");
      current = s.name;
    }
    std::string id = s.name;
    for (const auto& label : s.labels) {
      const std::string& k = label.first;
      REQUIRE_MESSAGE(k.rfind("__", 0) != 0,
                      "label names with __ are reserved: " << k);
      id += "|" + k + "=" + label.second;
    }
    REQUIRE_MESSAGE(series.insert(id).second, "a series twice: " << line);
    p.samples.push_back(s);
  }
  return p;
}

inline const prom_sample* find_sample(
    const prom_text& p, const std::string& name,
    const std::map<std::string, std::string>& labels = {}) {
  for (const auto& s : p.samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      const auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) match = false;
    }
    if (match) return &s;
  }
  return nullptr;
}

inline std::string sample_value(
    const prom_text& p, const std::string& name,
    const std::map<std::string, std::string>& labels = {}) {
  const prom_sample* s = find_sample(p, name, labels);
  REQUIRE_MESSAGE(s != nullptr, "no sample " << name);
  return s->value;
}

inline bool has_comment(const prom_text& p, const std::string& start) {
  for (const auto& c : p.comments) {
    if (c.rfind(start, 0) == 0) return true;
  }
  return false;
}

}  // namespace headroom_test
