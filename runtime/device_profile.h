// Device profiles: per-device settings kept in text, matched against what a device reports, so
// that tuning lives in data rather than in vendor checks in code. The runtime only parses and
// matches; the layers above give the settings their meaning (graph/tuning.h).
//
// Format, line by line ('#' starts a comment, blank lines are ignored):
//   [all]                          a section for every device
//   [match KEY=VALUE ...]          a section for devices matching every KEY=VALUE:
//                                    type    cpu | discrete | integrated | virtual | other
//                                    vendor  PCI vendor id (0x10de or decimal)
//                                    device  PCI device id
//                                    name    substring of the device name
//                                    driver  substring of the driver name
//                                  VALUE may be "double quoted" (for names with spaces)
//   SETTING = VALUE                a setting of the current section
// Sections apply in order: a later matching section overrides an earlier one.
#pragma once
#include <map>
#include <stdexcept>
#include <string>

#include "runtime/device.h"

namespace vkllm::rt {

// A malformed profile: "<origin>:<line>: <what is wrong>".
class ProfileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ProfileValue {
  std::string value;
  std::string origin;  // "<origin>:<line>" of the line that set it
};
using ProfileSettings = std::map<std::string, ProfileValue>;

// Applies the sections of `text` that match `info` onto `settings`. `origin` names the text in
// errors and in ProfileValue::origin. Throws ProfileError for a malformed line (in any section,
// matching or not). With `every`, the settings of all sections, matching or not, are added there
// too (so a caller can reject a misspelt setting in a section for other devices).
void apply_device_profile(const std::string& text, const std::string& origin,
                          const DeviceInfo& info, ProfileSettings& settings,
                          ProfileSettings* every = nullptr);

// Whether a section header's match list (the text after "match") matches `info`. Throws
// ProfileError (with `where` as its prefix) for an unknown key or a malformed pair.
bool profile_section_matches(const std::string& match_list, const DeviceInfo& info,
                             const std::string& where);

}  // namespace vkllm::rt
