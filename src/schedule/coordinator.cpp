// The coordinator thread and the ranks' channel to it, see include/wsi/schedule/coordinator.hpp.
#include <chrono>
#include <deque>
#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "wsi/comm/message.hpp"
#include "util/process_clock.hpp"
#include "util/progress_log.hpp"
#include "wsi/schedule/coordinator.hpp"
#include "wsi/schedule/signals.hpp"

namespace wsi {
namespace {

using Clock = std::chrono::steady_clock;

// Maps wait at most this long (or the checkpoint interval, if shorter) for the epoch that
// flags their slide's last unit done, and again for the one that writes them.
constexpr double kMapsLatency = 5.0;
// Planned slides wait at most this long for the epoch that appends them while every rank has
// work, and kPlansLatencyIdle when a rank waits for them: each append then takes the slides
// planned meanwhile, instead of an epoch (collective, with flushes) per slide. While a rank
// waits, a rank whose planning is as far ahead of the file as it may go gets the epoch at once:
// waiting longer would only leave its planning workers idle too.
constexpr double kPlansLatency = 2.0;
constexpr double kPlansLatencyIdle = 0.5;

// Rank -> coordinator
constexpr int kTagRequest = 11;  // [open slide]
constexpr int kTagFailed = 12;   // [slide]
constexpr int kTagSignal = 13;   // [0]
constexpr int kTagBye = 14;      // [0]
constexpr int kTagEpochDone = 15;  // [0]
constexpr int kTagEpochWanted = 16;  // [0]: a rank holds many results; checkpoint soon
constexpr int kTagMapsWanted = 17;   // [0]: a rank has merged maps to write
constexpr int kTagPlansWanted = 18;  // [full]: a rank has planned slides to append (full: it can plan no more)
// Coordinator -> rank
constexpr int kTagReply = 21;  // [unit index or -1]
constexpr int kTagEpoch = 22;  // [final, stop]

void send(const Comm& comm, int rank, int tag, const std::vector<int64_t>& values) {
  comm.send(rank, tag, encode_message(values));
}

// The values of the next message with `tag` from `source`, when one has arrived.
std::optional<std::pair<int, std::vector<int64_t>>> receive(const Comm& comm, int source, int tag) {
  auto message = comm.try_receive(source, tag);
  if (!message) return std::nullopt;
  return std::pair{message->source, decode_message<std::vector<int64_t>>(message->bytes, "coordinator message")};
}

}  // namespace

struct Coordinator::State {
  explicit State(const Comm& c) : comm(c) {}
  Comm comm;
  std::vector<WorkUnit> units;
  std::map<int64_t, std::deque<int64_t>> pending;  // slide -> its units still to hand out, in order
  std::vector<int64_t> current;                     // rank -> unit it computes, or -1
  std::map<int64_t, int64_t> unfinished;            // slide -> units handed out or pending, not finished
  double interval = 60.0;
  int64_t total_tiles = 0, finished_tiles = 0, slides_to_do = 0, slides_finished = 0;
  bool planned = true;  // every slide planned: no more units come
  std::set<int> idle, gone;
  std::set<int> parked;  // ranks waiting for units of slides still being planned
  bool final_sent = false;
  int epoch_acks_pending = 0;  // ranks still inside the last epoch; no new one starts before
  bool epoch_wanted = false;   // a rank asked for one (memory), start it as soon as possible
  bool maps_wanted = false;    // a slide's last unit finished, or a rank merged maps: epoch within kMapsLatency
  bool plans_wanted = false;   // a rank planned slides: epoch within kPlansLatency
  bool plans_full = false;     // a rank can plan no more before an append: no kPlansLatencyIdle
  Clock::time_point last_epoch = Clock::now();
  ProgressLog progress{"inference", "tiles", 0, 5.0};

  void broadcast_epoch(bool final, bool stop) {
    if (final) answer_parked(true);
    for (int r = 0; r < comm.size(); ++r) send(comm, r, kTagEpoch, {final ? 1 : 0, stop ? 1 : 0});
    epoch_acks_pending = comm.size();
    final_sent = final_sent || final;
  }

  void finish_unit_of(int rank) {
    const int64_t u = current[rank];
    if (u < 0) return;
    finished_tiles += units[u].tile_count;
    if (--unfinished[units[u].slide] == 0) ++slides_finished, maps_wanted = true;
    current[rank] = -1;
  }

  // A unit of the slide the rank has open, else of the first slide with units left; -1: none.
  int64_t next_unit(int64_t open_slide) {
    auto it = pending.find(open_slide);
    if (it == pending.end()) it = pending.begin();
    if (it == pending.end()) return -1;
    const int64_t u = it->second.front();
    it->second.pop_front();
    if (it->second.empty()) pending.erase(it);
    return u;
  }

  void add(const std::vector<WorkUnit>& added, bool all_planned) {
    for (const WorkUnit& unit : added) {
      const auto u = static_cast<int64_t>(units.size());
      units.push_back(unit);
      if (unfinished[unit.slide]++ == 0) ++slides_to_do;
      pending[unit.slide].push_back(u);
      total_tiles += unit.tile_count;
    }
    planned = all_planned;
    progress.set_total(total_tiles);
    answer_parked(false);
  }

  // Gives parked ranks units; with `all` (or once planning is over), the rest hear there are none.
  void answer_parked(bool all) {
    for (auto it = parked.begin(); it != parked.end();) {
      const int64_t u = final_sent ? -1 : next_unit(-1);
      if (u < 0 && !all && !planned) return;
      current[*it] = u;
      if (u < 0) idle.insert(*it);
      send(comm, *it, kTagReply, {u});
      it = parked.erase(it);
    }
  }

  void handle(int tag, int rank, const std::vector<int64_t>& values) {
    if (tag == kTagRequest) {
      finish_unit_of(rank);
      const int64_t u = final_sent ? -1 : next_unit(values.at(0));
      if (u < 0 && !planned && !final_sent) {
        parked.insert(rank);
        return;
      }
      current[rank] = u;
      if (u < 0) idle.insert(rank);
      send(comm, rank, kTagReply, {u});
    } else if (tag == kTagFailed) {
      pending.erase(values.at(0));
    } else if (tag == kTagSignal && !final_sent) {
      spdlog::warn("stop requested (signal on rank {}): checkpointing, then exit 75", rank);
      broadcast_epoch(true, true);
    } else if (tag == kTagBye) {
      gone.insert(rank);
    } else if (tag == kTagEpochDone && --epoch_acks_pending == 0) {
      last_epoch = Clock::now();  // the interval runs from the end of the last epoch
    } else if (tag == kTagEpochWanted) {
      epoch_wanted = true;
    } else if (tag == kTagMapsWanted) {
      maps_wanted = true;
    } else if (tag == kTagPlansWanted) {
      plans_wanted = true;
      plans_full = plans_full || values.at(0) != 0;
    }
  }

  // The final epoch (a signal, or every rank idle), or the next one when it is due.
  void start_epoch_if_due() {
    if (final_sent) return;
    if (stop_requested()) return broadcast_epoch(true, true);
    if (static_cast<int>(idle.size()) == comm.size()) return broadcast_epoch(true, false);
    const double since_epoch = seconds_since(last_epoch);
    const bool maps_due = maps_wanted && since_epoch >= std::min(interval, kMapsLatency);
    // The first slides go to the file at once: the job's first tile waits for them.
    const double plans_wait = total_tiles == 0      ? 0.0
                              : parked.empty() ? kPlansLatency
                              : plans_full     ? 0.0
                                               : kPlansLatencyIdle;
    const bool plans_due = plans_wanted && since_epoch >= std::min(interval, plans_wait);
    if (epoch_acks_pending == 0 && (since_epoch >= interval || epoch_wanted || maps_due || plans_due)) {
      epoch_wanted = maps_wanted = plans_wanted = plans_full = false;
      broadcast_epoch(false, false);
    }
  }
};

Coordinator::Coordinator(const Comm& comm, std::vector<WorkUnit> units, std::vector<int64_t> todo, bool planned,
                         double checkpoint_interval, AbortJob abort_job)
    : state_(std::make_unique<State>(comm)) {
  State& s = *state_;
  s.units = std::move(units);
  s.planned = planned;
  s.interval = checkpoint_interval;
  s.current.assign(comm.size(), -1);
  for (int64_t u : todo) {
    s.pending[s.units[u].slide].push_back(u);
    ++s.unfinished[s.units[u].slide];
    s.total_tiles += s.units[u].tile_count;
  }
  s.slides_to_do = static_cast<int64_t>(s.unfinished.size());
  s.progress.set_total(s.total_tiles);
  thread_ = std::thread([this, abort_job = std::move(abort_job)] {
    try {
      loop();
    } catch (const std::exception& e) {
      spdlog::critical("coordinator: {}", e.what());
      abort_job();
    }
  });
}

void Coordinator::add_units(const std::vector<WorkUnit>& units, bool planned) {
  std::lock_guard<std::mutex> lock(added_mutex_);
  added_.insert(added_.end(), units.begin(), units.end());
  added_planned_ = planned;
}

void Coordinator::finish() {
  if (thread_.joinable()) thread_.join();
}

Coordinator::~Coordinator() {
  quit_ = true;
  finish();
}

void Coordinator::loop() {
  State& s = *state_;
  while (static_cast<int>(s.gone.size()) < s.comm.size() && !quit_) {
    bool busy = false;
    {
      std::lock_guard<std::mutex> lock(added_mutex_);
      if (!added_.empty() || (added_planned_ && !s.planned)) {
        s.add(added_, added_planned_);
        added_.clear();
        busy = true;
      }
    }
    // Tag by tag: on rank 0 the replies and epochs addressed to its own channel wait here too.
    for (const int tag : {kTagRequest, kTagFailed, kTagSignal, kTagBye, kTagEpochDone, kTagEpochWanted, kTagMapsWanted,
                          kTagPlansWanted})
      while (auto message = receive(s.comm, Comm::kAnySource, tag)) {
        busy = true;
        s.handle(tag, message->first, message->second);
      }
    s.start_epoch_if_due();
    if (!s.final_sent)
      s.progress.update(s.finished_tiles, false,
                        ", " + std::to_string(s.slides_finished) + "/" + std::to_string(s.slides_to_do) + " slides");
    if (!busy) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void WorkChannel::request(int64_t open_slide) {
  if (stop_requested() && !signal_reported_) report_signal();
  send(comm_, 0, kTagRequest, {open_slide});
}

void WorkChannel::report_failed_slide(int64_t slide) { send(comm_, 0, kTagFailed, {slide}); }

void WorkChannel::report_signal() {
  signal_reported_ = true;
  send(comm_, 0, kTagSignal, {0});
}

std::optional<WorkEvent> WorkChannel::poll() {
  if (stop_requested() && !signal_reported_) report_signal();
  if (auto message = receive(comm_, 0, kTagEpoch)) {
    const auto& v = message->second;
    return WorkEvent{WorkEvent::epoch, -1, v.at(0) != 0, v.at(1) != 0};
  }
  if (auto message = receive(comm_, 0, kTagReply)) {
    const auto& v = message->second;
    if (v.at(0) < 0) return WorkEvent{WorkEvent::no_work, -1, false, false};
    return WorkEvent{WorkEvent::unit, v.at(0), false, false};
  }
  return std::nullopt;
}

void WorkChannel::request_epoch() { send(comm_, 0, kTagEpochWanted, {0}); }

void WorkChannel::request_maps_epoch() { send(comm_, 0, kTagMapsWanted, {0}); }

void WorkChannel::request_plans_epoch(bool full) { send(comm_, 0, kTagPlansWanted, {full ? 1 : 0}); }

void WorkChannel::epoch_done() { send(comm_, 0, kTagEpochDone, {0}); }

void WorkChannel::goodbye() { send(comm_, 0, kTagBye, {0}); }

}  // namespace wsi
