// Percent-decoding for the URLs ltxbus takes (bus endpoints, object stores).
#pragma once

#include <string>
#include <string_view>

namespace ltxbus {

// Decodes %XX escapes; anything else, including '+' and malformed escapes,
// is kept as is ('+' must survive: AWS secrets in a query contain it).
std::string PercentDecode(std::string_view s);

}  // namespace ltxbus
