// wsi::Comm over MPI, see include/wsi/comm/comm.hpp.
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

namespace wsi {

CommHandle::~CommHandle() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  // MPI_Comm_free is collective: not while an exception unwinds on this rank alone.
  if (owned && !finalized && std::uncaught_exceptions() == 0) MPI_Comm_free(&comm);
}

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

const CommHandle& handle_of(const Comm& comm) { return *comm.handle_; }

Comm Comm::world() {
  auto handle = std::make_shared<CommHandle>();
  handle->comm = MPI_COMM_WORLD;
  return Comm(handle);
}

Comm Comm::duplicate() const {
  auto handle = std::make_shared<CommHandle>();
  check_mpi(MPI_Comm_dup(handle_->comm, &handle->comm), "duplicating a communicator");
  handle->owned = true;
  return Comm(handle);
}

Comm Comm::node() const {
  auto handle = std::make_shared<CommHandle>();
  check_mpi(MPI_Comm_split_type(handle_->comm, MPI_COMM_TYPE_SHARED, rank(), MPI_INFO_NULL, &handle->comm),
            "splitting by node");
  handle->owned = true;
  return Comm(handle);
}

int Comm::rank() const {
  int rank = 0;
  check_mpi(MPI_Comm_rank(handle_->comm, &rank), "asking the rank");
  return rank;
}

int Comm::size() const {
  int size = 0;
  check_mpi(MPI_Comm_size(handle_->comm, &size), "asking the size");
  return size;
}

std::string Comm::host_name() {
  char name[MPI_MAX_PROCESSOR_NAME] = {};
  int length = 0;
  check_mpi(MPI_Get_processor_name(name, &length), "asking the host name");
  return std::string(name, static_cast<size_t>(std::max(length, 0)));
}

void Comm::barrier() const { check_mpi(MPI_Barrier(handle_->comm), "in a barrier"); }

std::vector<std::string> Comm::all_gather(const std::string& bytes, size_t chunk_bytes) const {
  // MPI counts and displacements are ints: a plan of a big cohort passes 2 GiB, so the bytes go
  // in rounds of at most INT_MAX in all (chunk_bytes per rank).
  const int n = size();
  const int64_t length = static_cast<int64_t>(bytes.size());
  std::vector<int64_t> lengths(n);
  check_mpi(MPI_Allgather(&length, 1, MPI_INT64_T, lengths.data(), 1, MPI_INT64_T, handle_->comm), "gathering sizes");
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
                             offsets.data(), MPI_BYTE, handle_->comm),
              "gathering data");
    for (int r = 0; r < n; ++r) parts[r].append(round, static_cast<size_t>(offsets[r]), static_cast<size_t>(counts[r]));
  }
  return parts;
}

std::string Comm::broadcast(const std::string& bytes, int root) const {
  int64_t length = static_cast<int64_t>(bytes.size());
  check_mpi(MPI_Bcast(&length, 1, MPI_INT64_T, root, handle_->comm), "broadcasting a size");
  std::string out = rank() == root ? bytes : std::string(static_cast<size_t>(length), '\0');
  for (int64_t at = 0; at < length; at += INT_MAX)  // int counts: in rounds past 2 GiB
    check_mpi(MPI_Bcast(out.data() + at, static_cast<int>(std::min<int64_t>(INT_MAX, length - at)), MPI_BYTE, root,
                        handle_->comm),
              "broadcasting data");
  return out;
}

namespace {

// Waits for `request`, sleeping between tests (MPI_Wait would spin on a core).
void wait_quietly(MPI_Request& request, const char* activity) {
  for (int done = 0;;) {
    check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), activity);
    if (done) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace

std::string Comm::broadcast_quietly(const std::string& bytes, int root) const {
  int64_t length = static_cast<int64_t>(bytes.size());
  MPI_Request request;
  check_mpi(MPI_Ibcast(&length, 1, MPI_INT64_T, root, handle_->comm, &request), "broadcasting a size");
  wait_quietly(request, "broadcasting a size");
  if (length > INT_MAX) throw std::length_error("broadcast_quietly: more than INT_MAX bytes");
  std::string out = rank() == root ? bytes : std::string(static_cast<size_t>(length), '\0');
  check_mpi(MPI_Ibcast(out.data(), static_cast<int>(length), MPI_BYTE, root, handle_->comm, &request),
            "broadcasting data");
  wait_quietly(request, "broadcasting data");
  return out;
}

int64_t Comm::all_reduce_max(int64_t value) const {
  int64_t out = 0;
  check_mpi(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_MAX, handle_->comm), "reducing (max)");
  return out;
}

int64_t Comm::all_reduce_sum(int64_t value) const {
  int64_t out = 0;
  check_mpi(MPI_Allreduce(&value, &out, 1, MPI_INT64_T, MPI_SUM, handle_->comm), "reducing (sum)");
  return out;
}

void Comm::send(int rank, int tag, const std::string& bytes) const {
  if (bytes.size() > INT_MAX) throw std::length_error("Comm::send: more than INT_MAX bytes");
  check_mpi(MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, rank, tag, handle_->comm),
            "sending a message");
}

std::optional<Comm::Received> Comm::try_receive(int source, int tag) const {
  int flag = 0;
  MPI_Status status;
  check_mpi(MPI_Iprobe(source == kAnySource ? MPI_ANY_SOURCE : source, tag, handle_->comm, &flag, &status),
            "probing for a message");
  if (!flag) return std::nullopt;
  int count = 0;
  check_mpi(MPI_Get_count(&status, MPI_BYTE, &count), "sizing a message");
  Received received{status.MPI_SOURCE, std::string(static_cast<size_t>(count), '\0')};
  check_mpi(MPI_Recv(received.bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, tag, handle_->comm, MPI_STATUS_IGNORE),
            "receiving a message");
  return received;
}

bool Comm::send_to_others(int tag, const std::string& bytes, double timeout_s) const {
  if (bytes.size() > INT_MAX) throw std::length_error("Comm::send_to_others: more than INT_MAX bytes");
  // Sends that time out may still complete later (a slow peer), so their buffer must outlive this
  // call: it is kept until they do, or, when they never do, for the rest of the process.
  auto buffer = std::make_unique<std::string>(bytes);
  const int me = rank(), ranks = size();
  std::vector<MPI_Request> requests;
  for (int r = 0; r < ranks; ++r) {
    if (r == me) continue;
    requests.emplace_back();
    check_mpi(MPI_Isend(buffer->data(), static_cast<int>(buffer->size()), MPI_BYTE, r, tag, handle_->comm,
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

namespace {

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
