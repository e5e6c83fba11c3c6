#pragma once
// The paper's prompt format and answer parsing (../shared/DESIGN.md "Fidelity").
#include <string>

namespace mtk::data {

// Code from a model answer: the content of the first <CODE>...</CODE> block (with a ```python
// fence inside it removed), else the first ```python (or bare ```) fenced block. Empty when
// nothing is found: the paper scores that as a render failure with reward 0.
std::string extract_code(const std::string& completion);

// The SFT target completion for a reference solution: "<CODE>\n```python\n{code}\n```\n</CODE>".
std::string format_completion(const std::string& code);

// The user turn for a description: "Generate code for the following text script:\n<TEXT_SCRIPT>...".
std::string format_user_prompt(const std::string& description);

}  // namespace mtk::data
