// The web chat page served at GET /: one self-contained HTML file (src/serve/web/index.html, embedded at
// build time; no CDN, works offline).
#pragma once
#include <string_view>

namespace dm {
std::string_view web_page_html();
}
