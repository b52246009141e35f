// Two chat turns with a model through the installed library (what `devops-model chat` does, minus the
// CLI). Build against an installed devops_model (examples/CMakeLists.txt), then:
//   chat_two_turns MODEL_DIR ["first question" ["second question"]]
// MODEL_DIR is a Hugging Face directory (config.json, weights, tokenizer). Prints each turn as
// "user: ..." and "assistant: ..." lines; the second turn sees the first one as history.
#include <devops_model/devops_model.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [QUESTION1 [QUESTION2]]\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const std::vector<std::string> questions = {argc > 2 ? argv[2] : "你是谁", argc > 3 ? argv[3] : "什么是持续集成？"};
  try {
    auto model = dm::Model::load(dir);
    auto tok = dm::Tokenizer::from_dir(dir);
    dm::GenerationParams params = dm::generation_params_from_dir(dir);  // the checkpoint's sampling settings
    if (params.max_new_tokens > 64) params.max_new_tokens = 64;         // short replies for an example
    dm::ChatSession chat(*model, *tok, params);
    for (const std::string& q : questions) {
      const std::string reply = chat.chat(q);
      std::printf("user: %s\nassistant: %s\n", q.c_str(), reply.c_str());
    }
    return 0;
  } catch (const dm::Error& e) {
    std::fprintf(stderr, "chat_two_turns: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "chat_two_turns: %s\n", e.what());
    return 70;
  }
}
