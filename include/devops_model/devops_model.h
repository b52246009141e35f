// libdevops_model's public API in one include: load a Hugging Face checkpoint, tokenize, generate and
// chat, evaluate, train, serve. Needs only the C++20 standard library (no third-party headers, nothing
// from the source tree); link the CMake target devops_model::devops_model (find_package(devops_model)).
//
//   auto model = dm::Model::load(dir);
//   auto tok = dm::Tokenizer::from_dir(dir);
//   dm::ChatSession chat(*model, *tok, dm::generation_params_from_dir(dir));
//   std::string reply = chat.chat("什么是持续集成？");
//
// Failures are dm::Error (core/error.h) with an ErrorKind. Not included here: the building blocks below
// these APIs (formats/ parsers, kernels/, data/ pieces), which can be included one by one.
#pragma once

#include "devops_model/core/error.h"
#include "devops_model/core/threads.h"
#include "devops_model/eval/dataset.h"
#include "devops_model/eval/evaluator.h"
#include "devops_model/eval/model_scoring_lm.h"
#include "devops_model/eval/perplexity.h"
#include "devops_model/eval/preset.h"
#include "devops_model/eval/prompt.h"
#include "devops_model/eval/report.h"
#include "devops_model/generate/chat_format.h"
#include "devops_model/generate/chat_session.h"
#include "devops_model/generate/generation_params.h"
#include "devops_model/generate/generator.h"
#include "devops_model/generate/sampler.h"
#include "devops_model/model/bert_encoder.h"
#include "devops_model/model/config.h"
#include "devops_model/model/decoder_block.h"
#include "devops_model/model/model.h"
#include "devops_model/model/random_init.h"
#include "devops_model/serve/server.h"
#include "devops_model/tokenizer/bpe_trainer.h"
#include "devops_model/tokenizer/tokenizer.h"
#include "devops_model/tokenizer/wordpiece.h"
#include "devops_model/train/checkpoint.h"
#include "devops_model/train/dataset.h"
#include "devops_model/train/train_model.h"
#include "devops_model/train/trainer.h"
