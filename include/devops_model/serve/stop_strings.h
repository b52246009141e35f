// OpenAI `stop` strings over streamed text: text is released only once it can no longer be the start of
// a stop string, so the streamed pieces concatenate to exactly the non-streamed reply.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace dm {

class StopStringFilter {
 public:
  explicit StopStringFilter(std::vector<std::string> stops);
  // Appends `piece`; returns the text that is now safe to emit (possibly empty). After a stop string
  // is found, stopped() is true, the text before it has been returned and everything else is dropped.
  std::string push(std::string_view piece);
  // End of generation: whatever is still held back.
  std::string finish();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace dm
