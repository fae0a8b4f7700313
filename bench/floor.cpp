// Attaches the floor's empty programs (floor.bpf.c) and waits for SIGINT/SIGTERM: the benchmark's configuration F.
// Prints "attached N" once every program is attached, so the driver knows when to start measuring.
#include <bpf/libbpf.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "floor.skel.h"

static volatile sig_atomic_t g_stop = 0;

int main(int argc, char**) {
  if (argc != 1) {  // no options: an unexpected argument must not leave programs attached behind a script's back
    fprintf(stderr, "usage: floor (attaches empty programs until SIGINT/SIGTERM; takes no arguments)\n");
    return 2;
  }
  signal(SIGINT, [](int) { g_stop = 1; });
  signal(SIGTERM, [](int) { g_stop = 1; });
  libbpf_set_print([](enum libbpf_print_level, const char*, va_list) { return 0; });
  std::unique_ptr<floor_bpf, void (*)(floor_bpf*)> skel(floor_bpf__open(), floor_bpf__destroy);
  if (!skel) {
    fprintf(stderr, "floor: cannot open the BPF object\n");
    return 1;
  }
  int n = 0;
  struct bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    std::string sec = bpf_program__section_name(prog);
    bool ok = true;
    if (sec.rfind("tp/", 0) == 0) ok = access(("/sys/kernel/tracing/events/" + sec.substr(3)).c_str(), F_OK) == 0;
    bpf_program__set_autoload(prog, ok);
    n += ok;
  }
  if (floor_bpf__load(skel.get()) || floor_bpf__attach(skel.get())) {
    fprintf(stderr, "floor: cannot load or attach the empty programs (root? tracefs mounted?)\n");
    return 1;
  }
  printf("attached %d\n", n);
  fflush(stdout);
  while (!g_stop) pause();
  return 0;
}
