#include "tool/vm.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>

#include "analyzers/untrusted_text.h"
#include "tool/output_file.h"
#include "tool/system_info.h"

#ifndef HOLDSCOPE_SOURCE_DIR
#define HOLDSCOPE_SOURCE_DIR "."
#endif

namespace holdscope {

namespace {

std::string kernel_cache() {
  const char* env = getenv("HOLDSCOPE_KERNEL_CACHE");
  return env ? env : "/var/cache/holdscope/kernels";
}

std::string script(const char* name) { return std::string(HOLDSCOPE_SOURCE_DIR) + "/scripts/" + name; }

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

int exit_status(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

std::string base64_decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    size_t p = chars.find(c);
    if (p == std::string::npos) continue;  // newlines, '=' padding, console noise
    val = (val << 6) + static_cast<int>(p);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

}  // namespace

int parse_mem_mib(const std::string& s) {
  size_t used = 0;
  long v = 0;
  try {
    v = std::stol(s, &used);
  } catch (...) {
    used = 0;
  }
  std::string unit = s.substr(used);
  if (used == 0 || v <= 0 || !(unit.empty() || unit == "M" || unit == "G"))
    throw ToolError("--mem takes a size like 2G or 512M, not '" + s + "'");
  return static_cast<int>(unit == "G" ? v * 1024 : v);
}

std::vector<std::pair<std::string, std::string>> map_output_files(std::vector<std::string>& args) {
  std::vector<std::pair<std::string, std::string>> files;
  auto to_guest = [&](const std::string& host) {
    std::string name = host.substr(host.find_last_of('/') + 1);
    if (name.empty()) throw ToolError("no file name in " + host);
    for (const auto& [other, _] : files)
      if (other == name) throw ToolError("two output files are named " + name + ": the guest returns files by name");
    files.emplace_back(name, host);
    return "/out/" + name;
  };
  for (size_t i = 0; i < args.size(); i++) {
    if (args[i] == "--") break;  // what follows is a traced command's own arguments
    size_t eq = args[i].find('=');
    std::string option = args[i].substr(0, eq);
    if (std::find(kOutputFileOptions.begin(), kOutputFileOptions.end(), option) == kOutputFileOptions.end()) continue;
    if (eq != std::string::npos) {
      args[i] = option + "=" + to_guest(args[i].substr(eq + 1));
    } else if (i + 1 < args.size()) {
      args[i + 1] = to_guest(args[i + 1]);
      i++;
    }
  }
  return files;
}

GuestFileReceiver::GuestFileReceiver(const std::vector<std::pair<std::string, std::string>>& files)
    : host_of_(files.begin(), files.end()) {}

bool GuestFileReceiver::feed(const std::string& line) {
  if (line.rfind("HOLDSCOPE-FILE-BEGIN ", 0) == 0) {
    current_ = line.substr(21);
    body_.clear();
    in_file_ = true;
    return true;
  }
  if (!in_file_) return false;
  if (line != "HOLDSCOPE-FILE-END") {
    body_ += line;
    return true;
  }
  in_file_ = false;
  auto h = host_of_.find(current_);
  if (h == host_of_.end()) {
    std::cerr << "holdscope vm: ignored a file the guest sent that was not asked for: " << escape_untrusted(current_) << "\n";
    return true;
  }
  try {
    write_output_file(h->second, base64_decode(body_));
    std::cerr << "holdscope vm: copied " << h->second << "\n";
  } catch (const ToolError& e) {
    std::cerr << "holdscope vm: " << e.what() << "\n";
  }
  return true;
}

ResolvedKernel resolve_kernel(const std::string& spec) {
  ResolvedKernel k;
  std::string name = spec.substr(0, spec.find('@'));
  if (spec.find('@') != std::string::npos) k.cmdline = spec.substr(spec.find('@') + 1);
  std::string dir = kernel_cache() + "/" + name;
  bool named = name.find('/') == std::string::npos && !name.empty() && name[0] != '.';
  if (named && (name == "6.1" || name == "6.12" || access((dir + "/vmlinuz").c_str(), R_OK) == 0)) {
    k.image = dir + "/vmlinuz";
    if (access(k.image.c_str(), R_OK) != 0)
      throw ToolError("kernel " + name + " is not fetched (run: holdscope kernels fetch " + name + ")");
    std::ifstream in(dir + "/cmdline");
    std::string built;
    std::getline(in, built);
    if (!built.empty()) k.cmdline = k.cmdline.empty() ? built : built + " " + k.cmdline;
    return k;
  }
  if (access(name.c_str(), R_OK) != 0)
    throw ToolError("no kernel " + name + ": neither 6.1, 6.12, one built with holdscope kernels build, nor an image");
  k.image = name;
  return k;
}

int run_vm(const VmOptions& o) {
  ResolvedKernel rk = resolve_kernel(o.kernel);
  std::string kernel = rk.image;
  std::string append = rk.cmdline;
  if (!o.append.empty()) append += (append.empty() ? "" : " ") + o.append;
  int mem = parse_mem_mib(o.mem);
  std::vector<std::string> args = o.args;
  auto files = map_output_files(args);
  std::string cmd = "bash " + shell_quote(script("vm-run.sh")) + " --timeout " + std::to_string(o.timeout_s) +
                    " --numa " + std::to_string(o.numa) + " --mem " + std::to_string(mem) + " --cpus " +
                    std::to_string(o.cpus);
  for (const auto& f : o.add) cmd += " --add " + shell_quote(f);
  if (!append.empty()) cmd += " --append " + shell_quote(append);
  cmd += " " + shell_quote(kernel) + " -- holdscope";
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " 2>&1";
  std::cerr << "holdscope vm: booting " << kernel << " under QEMU, " << o.cpus << " CPUs, " << mem << " MiB, "
            << o.numa << " NUMA node" << (o.numa == 1 ? "" : "s") << "; timeout " << o.timeout_s << " s\n";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) throw ToolError("cannot start the VM runner: " + std::string(strerror(errno)));
  GuestFileReceiver receiver(files);
  std::string line;
  bool in_guest = false;
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) {
    line = buf;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (receiver.feed(line)) continue;
    if (line.find("HOLDSCOPE-GUEST:") != std::string::npos) {
      in_guest = true;
      std::cerr << "holdscope vm: " << line.substr(line.find("HOLDSCOPE-GUEST:") + 17) << " up, running holdscope\n";
      continue;
    }
    if (line.rfind("HOLDSCOPE-GUEST-EXIT", 0) == 0) continue;
    // Firmware chatter before the guest's init is noise; the runner's own errors are not.
    if (in_guest || line.rfind("vm-run:", 0) == 0 || line.rfind("  |", 0) == 0) std::cout << line << "\n";
  }
  int rc = exit_status(pclose(p));
  if (rc != 0) std::cerr << "holdscope vm: the guest command exited with status " << rc << "\n";
  return rc;
}

int run_kernels_build(const KernelBuildOptions& o) {
  require_root();
  std::string cmd = "bash " + shell_quote(script("build-kernel.sh")) + " " + shell_quote(o.name);
  for (const auto& p : o.patches) cmd += " --patch " + shell_quote(p);
  if (!o.config.empty()) cmd += " --config " + shell_quote(o.config);
  if (!o.cmdline.empty()) cmd += " --cmdline " + shell_quote(o.cmdline);
  return exit_status(system(cmd.c_str()));
}

int run_kernels_fetch(const std::vector<std::string>& series) {
  require_root();
  std::string cmd = "bash " + shell_quote(script("fetch-kernels.sh"));
  for (const auto& s : series) cmd += " " + shell_quote(s);
  return exit_status(system(cmd.c_str()));
}

}  // namespace holdscope
