// wsi::Comm over MPI (the backend of every real run, see include/wsi/comm/comm.hpp), and the
// MPI session.
#include "comm/mpi_comm.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include "comm/comm_backend.hpp"

namespace wsi {
namespace {

// Throws std::runtime_error naming the activity and the rank when an MPI call fails.
void check_mpi(int status, const char* activity) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(status, text, &length);
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  throw std::runtime_error(std::string("MPI failed ") + activity + " on rank " + std::to_string(rank) + ": " +
                           std::string(text, length));
}

// Waits for `request`, sleeping between tests (MPI_Wait would spin on a core).
void wait_quietly(MPI_Request& request, const char* activity) {
  for (int done = 0;;) {
    check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), activity);
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

class MpiComm final : public CommBackend {
 public:
  // `owned`: a duplicate, freed with the last Comm that holds it.
  MpiComm(MPI_Comm comm, bool owned) : comm_(comm), owned_(owned) {}
  ~MpiComm() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    // MPI_Comm_free is collective: not while an exception unwinds on this rank alone.
    if (owned_ && !finalized && std::uncaught_exceptions() == 0) MPI_Comm_free(&comm_);
  }
  MpiComm(const MpiComm&) = delete;
  MpiComm& operator=(const MpiComm&) = delete;
  MPI_Comm communicator() const { return comm_; }

  std::shared_ptr<CommBackend> duplicate() const override {
    MPI_Comm copy = MPI_COMM_NULL;
    check_mpi(MPI_Comm_dup(comm_, &copy), "duplicating a communicator");
    return std::make_shared<MpiComm>(copy, true);
  }
  std::shared_ptr<CommBackend> node() const override {
    MPI_Comm node = MPI_COMM_NULL;
    check_mpi(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank(), MPI_INFO_NULL, &node), "splitting by node");
    return std::make_shared<MpiComm>(node, true);
  }
  int rank() const override {
    int rank = 0;
    check_mpi(MPI_Comm_rank(comm_, &rank), "asking the rank");
    return rank;
  }
  int size() const override {
    int size = 0;
    check_mpi(MPI_Comm_size(comm_, &size), "asking the size");
    return size;
  }
  void barrier() const override { check_mpi(MPI_Barrier(comm_), "in a barrier"); }
  std::vector<std::string> all_gather(const std::string& bytes, size_t chunk_bytes) const override;
  std::string broadcast(const std::string& bytes, int root) const override;
  std::string broadcast_quietly(const std::string& bytes, int root) const override;
  int64_t all_reduce_max(int64_t value) const override { return all_reduce(value, MPI_MAX, "reducing (max)"); }
  int64_t all_reduce_sum(int64_t value) const override { return all_reduce(value, MPI_SUM, "reducing (sum)"); }
  void send(int rank, int tag, const std::string& bytes) const override;
  std::optional<Comm::Received> try_receive(int source, int tag) const override;
  bool send_to_others(int tag, const std::string& bytes, double timeout_s) const override;

 private:
  int64_t all_reduce(int64_t value, MPI_Op op, const char* activity) const {
    int64_t out = 0;
    check_mpi(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, op, comm_), activity);
    return out;
  }
  MPI_Comm comm_;
  bool owned_;
};

std::vector<std::string> MpiComm::all_gather(const std::string& bytes, size_t chunk_bytes) const {
  // MPI counts and displacements are ints: a plan of a big cohort passes 2 GiB, so the bytes go
  // in rounds of at most INT_MAX in all (chunk_bytes per rank).
  const int n = size();
  const int64_t length = static_cast<int64_t>(bytes.size());
  std::vector<int64_t> lengths(n);
  check_mpi(MPI_Allgather(&length, 1, MPI_INT64_T, lengths.data(), 1, MPI_INT64_T, comm_), "gathering sizes");
  const size_t chunk = std::max<size_t>(1, std::min(chunk_bytes, static_cast<size_t>(INT_MAX / n)));
  const int64_t longest = *std::max_element(lengths.begin(), lengths.end());
  std::vector<std::string> parts(n);
  for (int r = 0; r < n; ++r) parts[r].reserve(static_cast<size_t>(lengths[r]));
  std::vector<int> counts(n), offsets(n);
  std::string round;
  for (int64_t at = 0; at < longest; at += static_cast<int64_t>(chunk)) {
    int total = 0;
    for (int r = 0; r < n; ++r) {
      counts[r] = static_cast<int>(std::clamp<int64_t>(lengths[r] - at, 0, static_cast<int64_t>(chunk)));
      offsets[r] = total, total += counts[r];
    }
    round.assign(static_cast<size_t>(total), '\0');
    const int mine = counts[rank()];
    check_mpi(MPI_Allgatherv(mine > 0 ? bytes.data() + at : nullptr, mine, MPI_BYTE, round.data(), counts.data(),
                             offsets.data(), MPI_BYTE, comm_),
              "gathering data");
    for (int r = 0; r < n; ++r) parts[r].append(round, static_cast<size_t>(offsets[r]), static_cast<size_t>(counts[r]));
  }
  return parts;
}

std::string MpiComm::broadcast(const std::string& bytes, int root) const {
  int64_t length = static_cast<int64_t>(bytes.size());
  check_mpi(MPI_Bcast(&length, 1, MPI_INT64_T, root, comm_), "broadcasting a size");
  std::string out = rank() == root ? bytes : std::string(static_cast<size_t>(length), '\0');
  for (int64_t at = 0; at < length; at += INT_MAX)  // int counts: in rounds past 2 GiB
    check_mpi(MPI_Bcast(out.data() + at, static_cast<int>(std::min<int64_t>(INT_MAX, length - at)), MPI_BYTE, root,
                        comm_),
              "broadcasting data");
  return out;
}

std::string MpiComm::broadcast_quietly(const std::string& bytes, int root) const {
  int64_t length = static_cast<int64_t>(bytes.size());
  MPI_Request request;
  check_mpi(MPI_Ibcast(&length, 1, MPI_INT64_T, root, comm_, &request), "broadcasting a size");
  wait_quietly(request, "broadcasting a size");
  if (length > INT_MAX) throw std::length_error("broadcast_quietly: more than INT_MAX bytes");
  std::string out = rank() == root ? bytes : std::string(static_cast<size_t>(length), '\0');
  check_mpi(MPI_Ibcast(out.data(), static_cast<int>(length), MPI_BYTE, root, comm_, &request),
            "broadcasting data");
  wait_quietly(request, "broadcasting data");
  return out;
}

void MpiComm::send(int rank, int tag, const std::string& bytes) const {
  if (bytes.size() > INT_MAX) throw std::length_error("Comm::send: more than INT_MAX bytes");
  check_mpi(MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, rank, tag, comm_),
            "sending a message");
}

std::optional<Comm::Received> MpiComm::try_receive(int source, int tag) const {
  int flag = 0;
  MPI_Status status;
  check_mpi(MPI_Iprobe(source == Comm::kAnySource ? MPI_ANY_SOURCE : source, tag, comm_, &flag, &status),
            "probing for a message");
  if (!flag) return std::nullopt;
  int count = 0;
  check_mpi(MPI_Get_count(&status, MPI_BYTE, &count), "sizing a message");
  Comm::Received received{status.MPI_SOURCE, std::string(static_cast<size_t>(count), '\0')};
  check_mpi(MPI_Recv(received.bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, tag, comm_, MPI_STATUS_IGNORE),
            "receiving a message");
  return received;
}

bool MpiComm::send_to_others(int tag, const std::string& bytes, double timeout_s) const {
  if (bytes.size() > INT_MAX) throw std::length_error("Comm::send_to_others: more than INT_MAX bytes");
  // Sends that time out may still complete later (a slow peer), so their buffer must outlive this
  // call: it is kept until they do, or, when they never do, for the rest of the process.
  auto buffer = std::make_unique<std::string>(bytes);
  const int me = rank(), ranks = size();
  std::vector<MPI_Request> requests;
  for (int r = 0; r < ranks; ++r) {
    if (r == me) continue;
    requests.emplace_back();
    check_mpi(MPI_Isend(buffer->data(), static_cast<int>(buffer->size()), MPI_BYTE, r, tag, comm_,
                        &requests.back()),
              "sending to every rank");
  }
  const auto start = std::chrono::steady_clock::now();
  for (;;) {
    int done = 0;
    check_mpi(MPI_Testall(static_cast<int>(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE),
              "sending to every rank");
    if (done) return true;
    if (std::chrono::steady_clock::now() - start > std::chrono::duration<double>(timeout_s)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (MPI_Request& request : requests)
    if (request != MPI_REQUEST_NULL) MPI_Request_free(&request);  // let them finish, or not, on their own
  buffer.release();  // see above: still read by the sends left running
  return false;
}

// One line, formatted before any crash, that the crash handler writes with write(2) alone.
char g_crash_line[128] = "wsi-mpi: fatal signal\n";

extern "C" void on_fatal_signal(int signal_number) {
  const ssize_t ignored = write(STDERR_FILENO, g_crash_line, strnlen(g_crash_line, sizeof g_crash_line));
  (void)ignored;
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);  // dies by the signal: the launcher (mpirun, srun) sees it and ends the job
}

// Open MPI's own handler for these signals prints a backtrace, which can deadlock on a heap a
// crash has damaged, and then the rank neither dies nor answers: ours says which rank and which
// signal in one write and dies by the signal, so the launcher ends every rank.
void replace_fatal_signal_handlers(int rank) {
  std::snprintf(g_crash_line, sizeof g_crash_line, "[wsi-mpi] rank %d died of a fatal signal; the job ends\n", rank);
  struct sigaction action {};
  action.sa_handler = on_fatal_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;
  for (const int signal_number : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) sigaction(signal_number, &action, nullptr);
}

}  // namespace

Comm Comm::world() { return Comm(std::make_shared<MpiComm>(MPI_COMM_WORLD, false)); }

std::string Comm::host_name() {
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  check_mpi(MPI_Get_processor_name(name, &length), "asking the host name");
  return std::string(name, static_cast<size_t>(std::max(length, 0)));
}

MPI_Comm mpi_communicator(const Comm& comm) {
  const auto* mpi = dynamic_cast<const MpiComm*>(&backend_of(comm));
  if (!mpi) throw std::logic_error("this communicator does not run on MPI (MPI-IO needs one that does)");
  return mpi->communicator();
}

MpiSession::MpiSession(int* argc, char*** argv) {
  int provided = 0;
  check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided), "initialising");
  // Errors come back to check_mpi (MPI's default would abort without our message); communicators
  // made from these inherit it.
  check_mpi(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "setting the error handler");
  check_mpi(MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN), "setting the error handler");
  if (provided < MPI_THREAD_MULTIPLE)
    throw std::runtime_error("this MPI library does not provide MPI_THREAD_MULTIPLE, which wsi-mpi needs");
  int rank = 0;
  check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "asking the rank");
  replace_fatal_signal_handlers(rank);
}

MpiSession::~MpiSession() { MPI_Finalize(); }

void MpiSession::abort(int status) {
  MPI_Abort(MPI_COMM_WORLD, status);
  std::abort();
}

}  // namespace wsi
