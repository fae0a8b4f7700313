#include "tool/html_page.h"

#include "web_assets.h"

namespace holdscope {

namespace {

// JSON inside <script>: "</" would end the element early, so it is written as "<\/" (the same string to JSON).
std::string script_safe(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); i++) {
    out += json[i];
    if (json[i] == '<' && i + 1 < json.size() && json[i + 1] == '/') out += '\\';
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

nlohmann::json folded_json(const std::vector<FoldedLine>& lines) {
  auto out = nlohmann::json::array();
  for (const auto& l : lines) out.push_back({l.frames, l.value});
  return out;
}

}  // namespace

namespace {

// The page around its data: the embedded scripts and styles, the data as one JSON element, web/page.js to draw it.
std::string page_shell(const std::string& title, const nlohmann::json& data) {
  std::string page;
  page += "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  // First of all scripts, so an error in any later one is kept where a headless browser test reads it.
  page += "<script>addEventListener('error', function (e) { var h = document.documentElement; "
          "h.setAttribute('data-script-errors', (h.getAttribute('data-script-errors') || '') + String(e.message) + ' | '); "
          "});</script>\n";
  // Nothing may come from the network: the policy refuses any load that is not inline.
  page += "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'; "
          "style-src 'unsafe-inline'; img-src data:\">\n";
  page += "<title>" + html_escape(title) + "</title>\n";
  page += "<style>\n" + std::string(web::kFlameGraphCss) + "\n" + web::kPageCss + "\n</style>\n";
  page += "<script>\n" + std::string(web::kD3SelectionJs) + "\n</script>\n";
  page += "<script>\n" + std::string(web::kFlameGraphJs) + "\n</script>\n";
  page += "<script type=\"application/json\" id=\"holdscope-data\">" +
          script_safe(data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) + "</script>\n";
  page += "<script>\n" + std::string(web::kPageJs) + "\n</script>\n";
  page += "</head><body></body></html>\n";
  return page;
}

}  // namespace

std::string html_diff_page(const std::string& title, const nlohmann::json& diff) {
  return page_shell(title, nlohmann::json{{"title", title}, {"diff", diff}});
}

std::string html_page(const HtmlPageInput& in) {
  const auto& h = in.histograms;
  nlohmann::json data{{"title", in.title},
                      {"report", in.report},
                      {"folded_holds", folded_json(in.folded_holds)},
                      {"folded_allocs", folded_json(in.folded_allocs)},
                      {"histograms",
                       {{"hold_read", h.hold_read}, {"hold_write", h.hold_write}, {"wait_read", h.wait_read},
                        {"wait_write", h.wait_write}}},
                      {"verdicts", in.verdicts}};
  return page_shell(in.title, data);
}

}  // namespace holdscope
