// SPDX-License-Identifier: MIT
// headroom: the three writers of export.hpp. Each walks report_fields()
// once and knows only field types, never which field it is writing.
// Included by export.hpp after the public types.
#pragma once

#include <cstdio>       // std::snprintf
#include <string>       // std::string, std::to_string
#include <string_view>  // std::string_view
#include <utility>      // std::pair
#include <vector>       // std::vector

#include "../format.hpp"   // format_bytes
#include "../version.hpp"  // HEADROOM_VERSION_STRING
#include "escape.hpp"      // label_escape, terminal_escape

namespace headroom::detail::writers {

using state = field_value::state;

inline std::string format(const char* spec, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, spec, v);
  return buf;
}

inline bool child_of(std::string_view key, std::string_view group) {
  return !group.empty() && key.size() > group.size() &&
         key.compare(0, group.size(), group) == 0 && key[group.size()] == '.';
}

// ---------------------------------------------------------------------------
// JSON: an object per section, null where a value is absent, unsupported or
// unreadable, and every unreadable value listed in "errors" (cpu's in
// "cpu.errors") as {field, path, message}, plus hint where the value says
// how to write it right (a HEADROOM_MEMORY_LIMIT that is not a size).

struct listed_error {
  std::string field;
  error failure;
  std::string hint;
};
using error_list = std::vector<listed_error>;

inline void json_item(json_writer& w, std::string_view key, field_type type,
                      const field_value& v) {
  if (v.st != state::value) {
    w.null(key);
    return;
  }
  switch (type) {
    case field_type::percent:
      w.real(key, v.real, 2);
      return;
    case field_type::cpus:
      w.real(key, v.real, 6);
      return;
    case field_type::integer:
      w.real(key, v.real, 0);
      return;
    case field_type::text:
      w.string(key, v.text);
      return;
    case field_type::flag:
      w.boolean(key, v.flag);
      return;
    case field_type::group:
      w.begin_object(key);
      for (const field_value& item : v.items)
        json_item(w, item.key, item.type, item);
      w.end_object();
      return;
    case field_type::list:
      w.begin_array(key);
      for (const field_value& item : v.items)
        json_item(w, {}, field_type::group, item);
      w.end_array();
      return;
    case field_type::info:
      return;
    case field_type::bytes:
    case field_type::count:
    case field_type::counter:
    case field_type::micros:
      break;
  }
  w.number(key, v.number);
}

inline void json_errors(json_writer& w, const error_list& errors) {
  w.begin_array("errors");
  for (const listed_error& e : errors) {
    w.begin_object()
        .string("field", e.field)
        .string("path", e.failure.path)
        .string("message", e.failure.code.message());
    if (!e.hint.empty()) w.string("hint", e.hint);
    w.end_object();
  }
  w.end_array();
}

inline void json_section(json_writer& w, const export_report& r,
                         const field_section& sec, error_list& errors) {
  if (!sec.json.empty()) w.begin_object(sec.json);
  std::string_view open;  // a group whose children follow ("some")
  std::string_view skip;  // a null group: its children are not written
  for (const field* f = sec.begin; f != sec.end; ++f) {
    const std::string_view key = f->json;
    if (key.empty() || child_of(key, skip)) continue;
    if (!open.empty() && !child_of(key, open)) {
      w.end_object();
      open = {};
    }
    const field_value v = f->get(r);
    if (v.st == state::error) {
      errors.push_back({(sec.json.empty() ? "" : std::string(sec.json) + ".") +
                            std::string(key),
                        v.failure, v.why});
    }
    const std::string_view leaf =
        open.empty() ? key : key.substr(open.size() + 1);
    if (f->type == field_type::group && v.items.empty()) {
      if (v.has_value()) {
        w.begin_object(leaf);
        open = key;
      } else {
        w.null(leaf);
        skip = key;
      }
      continue;
    }
    json_item(w, leaf, f->type, v);
  }
  if (!open.empty()) w.end_object();
  if (sec.own_errors) {
    json_errors(w, errors);
    errors.clear();
  }
  if (!sec.json.empty()) w.end_object();
}

// ---------------------------------------------------------------------------
// Prometheus text exposition 0.0.4: HELP and TYPE once per metric, a sample
// per value; where there is none, a comment "# NAME omitted: why".

inline std::string sample_value(field_type type, const field_value& v) {
  switch (type) {
    case field_type::percent:
      return format("%.2f", v.real);
    case field_type::cpus:
      return format("%.6g", v.real);
    case field_type::integer:
      return format("%.0f", v.real);
    case field_type::micros:
      return format("%.6f", static_cast<double>(v.number) / 1e6);
    case field_type::flag:
      return v.flag ? "1" : "0";
    default:
      return std::to_string(v.number);
  }
}

inline const char* metric_type(field_type type) {
  return type == field_type::counter || type == field_type::micros ? "counter"
                                                                   : "gauge";
}

class exposition {
 public:
  void family(std::string_view name, const char* type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    for (const char c : help) {  // HELP escapes backslash and newline
      out_ += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : std::string(1, c);
    }
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void sample(std::string_view name,
              const std::vector<std::pair<std::string, std::string>>& labels,
              const std::string& value) {
    out_ += name;
    if (!labels.empty()) {
      out_ += '{';
      for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i) out_ += ',';
        out_ += labels[i].first;
        out_ += "=\"";
        out_ += label_escape(labels[i].second);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }

  // A comment: one line of printable text whatever `why` holds.
  void omitted(std::string_view name, std::string_view why) {
    out_ += "# ";
    out_ += name;
    out_ += " omitted: ";
    out_ += terminal_escape(why);
    out_ += '\n';
  }

  std::string& out() { return out_; }

 private:
  std::string out_;
};

// ---------------------------------------------------------------------------
// For people: "  label   value   <- where from", control bytes escaped.

inline std::string human_value(field_type type, const field_value& v);

inline std::string human_items(const field_value& v) {
  std::string out;
  for (const field_value& item : v.items) {
    if (item.st == state::unsupported) continue;
    if (!out.empty()) out += ' ';
    out += item.key + "=" + human_value(item.type, item);
  }
  return out;
}

inline std::string human_value(field_type type, const field_value& v) {
  if (v.st == state::error) {
    return "unavailable: " + v.failure.message() +
           (v.why.empty() ? "" : " (" + v.why + ")");
  }
  if (!v.human.empty() || v.st != state::value) return v.human;
  switch (type) {
    case field_type::bytes:
      return format_bytes(v.number) + " (" + std::to_string(v.number) + ")";
    case field_type::micros:
      return std::to_string(v.number) + " us";
    case field_type::percent:
      return format("%.2f%%", v.real);
    case field_type::cpus:
      return format("%.2f", v.real);
    case field_type::integer:
      return format("%.0f", v.real);
    case field_type::text:
      return v.text;
    case field_type::flag:
      return v.flag ? "yes" : "no";
    case field_type::group:
      return human_items(v);
    default:
      return std::to_string(v.number);
  }
}

inline void human_row(std::string& out, std::string_view label,
                      const std::string& value, const std::string& source) {
  char head[32];
  std::snprintf(head, sizeof head, "  %-17.*s ", static_cast<int>(label.size()),
                label.data());
  out += head;
  out += terminal_escape(value);
  if (!source.empty()) out += "   <- " + terminal_escape(source);
  out += '\n';
}

// A list (the chain): a line per entry, its first item then the others as
// "name value", where the name is the item's key without "_bytes".
inline void human_list(std::string& out, std::string_view label,
                       const field_value& v) {
  out += "  " + std::string(label) +
         (v.source.empty() ? "" : " (" + v.source + ")") + "\n";
  for (const field_value& entry : v.items) {
    std::string line = "    ";
    std::size_t written = 0;
    for (const field_value& item : entry.items) {
      if (item.st == state::unsupported) continue;
      std::string name = item.key;
      if (name.size() > 6 && name.compare(name.size() - 6, 6, "_bytes") == 0) {
        name.resize(name.size() - 6);
      }
      line += written == 0   ? ""
              : written == 1 ? "  " + name + " "
                             : ", " + name + " ";
      line += human_value(item.type, item);
      ++written;
    }
    out += terminal_escape(line) + "\n";
  }
}

inline void human_section(std::string& out, const export_report& r,
                          const field_section& sec) {
  if (!sec.title.empty()) out += "\n" + std::string(sec.title) + "\n";
  std::string_view group;  // its children are written on the group's line
  for (const field* f = sec.begin; f != sec.end; ++f) {
    if (child_of(f->json, group)) continue;
    if (f->type == field_type::group) group = f->json;
    if (f->label.empty()) continue;
    const field_value v = f->get(r);
    if (v.quiet || v.st == state::unsupported) continue;
    if (v.st == state::absent && v.human.empty()) continue;
    if (f->type == field_type::list && v.has_value()) {
      if (!v.items.empty()) human_list(out, f->label, v);
      continue;
    }
    std::string text = human_value(f->type, v);
    if (f->type == field_type::group && v.has_value() && v.items.empty()) {
      for (const field* c = f + 1; c != sec.end && child_of(c->json, f->json);
           ++c) {
        const field_value cv = c->get(r);
        if (cv.st != state::value) continue;
        text += (text.empty() ? "" : " ") + std::string(c->label) + "=" +
                human_value(c->type, cv);
      }
    }
    human_row(out, f->label, text,
              v.st == state::error ? std::string() : v.source);
  }
}

}  // namespace headroom::detail::writers

namespace headroom {

inline std::string to_json(const export_report& r) {
  json_writer w;
  detail::writers::error_list errors;
  w.begin_object();
  for (const field_section& sec : report_fields()) {
    detail::writers::error_list own;
    detail::writers::json_section(w, r, sec, sec.own_errors ? own : errors);
  }
  detail::writers::json_errors(w, errors);
  w.end_object();
  return std::move(w.out()) + "\n";
}

inline std::string to_prometheus(const export_report& r) {
  using state = field_value::state;
  detail::writers::exposition x;
  x.out() = "# headroom " HEADROOM_VERSION_STRING
            ": memory and CPU limits as the process sees them\n";
  std::size_t errors = 0;
  std::string_view last_family;
  for (const field_section& sec : report_fields()) {
    for (const field* f = sec.begin; f != sec.end; ++f) {
      if (f->metric.empty()) continue;
      const field_value v = f->get(r);
      switch (v.st) {
        case state::value:
          if (f->metric != last_family) {
            x.family(f->metric, detail::writers::metric_type(f->type), f->help);
            last_family = f->metric;
          }
          x.sample(f->metric, v.labels,
                   f->type == field_type::info
                       ? std::string("1")
                       : detail::writers::sample_value(f->type, v));
          break;
        case state::absent:
        case state::unsupported:
          x.omitted(f->metric, v.why);
          break;
        case state::error:
          x.omitted(f->metric, "unreadable: " + v.failure.message() +
                                   (v.why.empty() ? "" : " (" + v.why + ")"));
          ++errors;
          break;
      }
    }
  }
  x.family("headroom_read_errors", "gauge",
           "Values that could not be read (see the comments)");
  x.sample("headroom_read_errors", {}, std::to_string(errors));
  return std::move(x.out());
}

inline std::string to_text(const export_report& r) {
  const options& o = r.from->opts();
  std::string out = "headroom " HEADROOM_VERSION_STRING ": ";
  out += o.pid ? "pid " + std::to_string(o.pid) : std::string("this process");
  if (o.root != "/") out += ", root " + detail::terminal_escape(o.root);
  out += "\n";
  for (const field_section& sec : report_fields()) {
    detail::writers::human_section(out, r, sec);
  }
  return out;
}

}  // namespace headroom
