#include "devops_model/serve/web_page.h"

#include "dm_web_page.h"  // generated from src/serve/web/index.html (src/CMakeLists.txt)

namespace dm {
std::string_view web_page_html() { return kDmWebPage; }
}  // namespace dm
