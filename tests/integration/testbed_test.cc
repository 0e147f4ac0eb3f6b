// Proves that each test server is real and usable with the client libraries
// ltxbus uses, and that the fixture cleans up after itself.
#include "tests/support/testbed.h"

#include <curl/curl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <nats/nats.h>
#include <openssl/evp.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/process.h"
#include "tests/support/temp_dir.h"

namespace ltxbus::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

// unique_ptr for C handles: CPtr<rd_kafka_t, rd_kafka_destroy>.
template <auto kDestroy>
struct CDeleter {
  template <typename T>
  void operator()(T* p) const {
    if (p != nullptr) kDestroy(p);
  }
};
template <typename T, auto kDestroy>
using CPtr = std::unique_ptr<T, CDeleter<kDestroy>>;

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return true;
}

// ---------------------------------------------------------------- NATS

class TestbedNatsTest : public ServerTest<ServerKind::kNats> {};

// A connection and its JetStream context (destroyed in that order).
struct JetStream {
  CPtr<natsConnection, natsConnection_Destroy> nc;
  CPtr<jsCtx, jsCtx_Destroy> js;
};

JetStream ConnectJetStream(const std::string& url) {
  JetStream j;
  natsOptions* raw_opts = nullptr;
  EXPECT_EQ(natsOptions_Create(&raw_opts), NATS_OK);
  CPtr<natsOptions, natsOptions_Destroy> opts(raw_opts);
  EXPECT_EQ(natsOptions_SetURL(opts.get(), url.c_str()), NATS_OK);
  EXPECT_EQ(natsOptions_SetTimeout(opts.get(), 5000), NATS_OK);
  natsConnection* raw_nc = nullptr;
  natsStatus s = natsConnection_Connect(&raw_nc, opts.get());
  EXPECT_EQ(s, NATS_OK) << nats_GetLastError(nullptr);
  if (s != NATS_OK) return j;
  j.nc.reset(raw_nc);
  jsCtx* raw_js = nullptr;
  EXPECT_EQ(natsConnection_JetStream(&raw_js, j.nc.get(), nullptr), NATS_OK);
  j.js.reset(raw_js);
  return j;
}

// Message `seq` of `stream`'s data, or "" with a test failure.
std::string GetMessage(jsCtx* js, const std::string& stream, uint64_t seq) {
  natsMsg* raw_msg = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetMsg(&raw_msg, js, stream.c_str(), seq, nullptr, &jerr);
  EXPECT_EQ(s, NATS_OK) << "sequence " << seq << ": jerr " << jerr << ": "
                        << nats_GetLastError(nullptr);
  if (s != NATS_OK) return "";
  CPtr<natsMsg, natsMsg_Destroy> msg(raw_msg);
  return std::string(natsMsg_GetData(msg.get()),
                     static_cast<size_t>(natsMsg_GetDataLength(msg.get())));
}

TEST_F(TestbedNatsTest, JetStreamFileStreamDedupesAndReadsBackBySequence) {
  const std::string url = env(ServerKind::kNats, "NATS_URL");
  ASSERT_THAT(url, HasSubstr("nats://127.0.0.1:"));
  JetStream conn = ConnectJetStream(url);
  ASSERT_NE(conn.js, nullptr);
  jsCtx* js = conn.js.get();

  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  // Unique names, so the test also passes against shared servers (LTXBUS_TESTBED_DIR).
  const std::string stream = UniqueName("testbed");
  const std::string subject_filter = stream + ".>";
  const std::string subject = stream + ".db1";
  const char* subjects[] = {subject_filter.c_str()};
  cfg.Name = stream.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  jsStreamInfo* raw_si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  ASSERT_EQ(js_AddStream(&raw_si, js, &cfg, nullptr, &jerr), NATS_OK)
      << "jerr " << jerr << ": " << nats_GetLastError(nullptr);
  CPtr<jsStreamInfo, jsStreamInfo_Destroy> si(raw_si);
  EXPECT_EQ(si->Config->Storage, js_FileStorage);
  // File storage really lands in the server's directory.
  EXPECT_TRUE(std::filesystem::exists(server(ServerKind::kNats).dir() +
                                      "/js/jetstream/$G/streams/" + stream));

  const std::vector<std::string> payloads = {"first", std::string("se\0cond", 7), "third"};
  auto publish = [&](const std::string& msg_id, const std::string& data) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = msg_id.c_str();
    jsPubAck* raw_ack = nullptr;
    jsErrCode err = static_cast<jsErrCode>(0);
    natsStatus s = js_Publish(&raw_ack, js, subject.c_str(), data.data(),
                              static_cast<int>(data.size()), &po, &err);
    EXPECT_EQ(s, NATS_OK) << "jerr " << err << ": " << nats_GetLastError(nullptr);
    return CPtr<jsPubAck, jsPubAck_Destroy>(raw_ack);
  };
  for (size_t i = 0; i < payloads.size(); ++i) {
    auto ack = publish("db1:" + std::to_string(i + 1), payloads[i]);
    ASSERT_NE(ack, nullptr);
    EXPECT_EQ(ack->Sequence, i + 1);
    EXPECT_FALSE(ack->Duplicate);
  }
  // The same Nats-Msg-Id again: acknowledged as a duplicate of sequence 2.
  auto dup = publish("db1:2", "ignored");
  ASSERT_NE(dup, nullptr);
  EXPECT_TRUE(dup->Duplicate);
  EXPECT_EQ(dup->Sequence, 2u);

  for (size_t i = 0; i < payloads.size(); ++i) {
    natsMsg* raw_msg = nullptr;
    ASSERT_EQ(js_GetMsg(&raw_msg, js, stream.c_str(), i + 1, nullptr, &jerr), NATS_OK)
        << "sequence " << i + 1 << ": jerr " << jerr;
    CPtr<natsMsg, natsMsg_Destroy> msg(raw_msg);
    std::string data(natsMsg_GetData(msg.get()),
                     static_cast<size_t>(natsMsg_GetDataLength(msg.get())));
    EXPECT_EQ(data, payloads[i]);
    const char* id = nullptr;
    ASSERT_EQ(natsMsgHeader_Get(msg.get(), "Nats-Msg-Id", &id), NATS_OK);
    EXPECT_EQ(std::string(id), "db1:" + std::to_string(i + 1));
  }
  natsMsg* missing = nullptr;
  EXPECT_NE(js_GetMsg(&missing, js, stream.c_str(), 4, nullptr, &jerr), NATS_OK);
  natsMsg_Destroy(missing);
}

TEST_F(TestbedNatsTest, RestartKeepsThePortAndTheStreams) {
  TestServer& nats = server(ServerKind::kNats);
  const std::string url = nats.env("NATS_URL");
  const std::string stream = UniqueName("testbed");
  const std::string subject = stream + ".db1";
  {
    JetStream conn = ConnectJetStream(url);
    ASSERT_NE(conn.js, nullptr);
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char* subjects[] = {subject.c_str()};
    cfg.Name = stream.c_str();
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    ASSERT_EQ(js_AddStream(nullptr, conn.js.get(), &cfg, nullptr, &jerr), NATS_OK) << jerr;
    ASSERT_EQ(js_Publish(nullptr, conn.js.get(), subject.c_str(), "before", 6, nullptr, &jerr),
              NATS_OK)
        << jerr;
  }
  // A crash as well as a clean stop: what was acknowledged is on disk either way.
  for (auto mode : {TestServer::HaltMode::kClean, TestServer::HaltMode::kCrash}) {
    const pid_t old_pid = nats.pid();
    ASSERT_TRUE(nats.Halt(mode).ok());
    EXPECT_TRUE(nats.halted());
    EXPECT_FALSE(ProcessAlive(old_pid));
    EXPECT_FALSE(PortAcceptsConnections(PortOf(url)));
    Status resumed = nats.Resume();
    ASSERT_TRUE(resumed.ok()) << resumed.ToString();
    EXPECT_NE(nats.pid(), old_pid);
    EXPECT_TRUE(ProcessAlive(nats.pid()));
    EXPECT_EQ(nats.env("NATS_URL"), url);

    JetStream conn = ConnectJetStream(url);
    ASSERT_NE(conn.js, nullptr);
    EXPECT_EQ(GetMessage(conn.js.get(), stream, 1), "before");
    // The restarted server takes writes to the old stream.
    jsPubAck* raw_ack = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    ASSERT_EQ(js_Publish(&raw_ack, conn.js.get(), subject.c_str(), "after", 5, nullptr, &jerr),
              NATS_OK)
        << jerr;
    CPtr<jsPubAck, jsPubAck_Destroy> ack(raw_ack);
    EXPECT_EQ(GetMessage(conn.js.get(), stream, ack->Sequence), "after");
  }
}

// ---------------------------------------------------------------- Kafka

class TestbedKafkaTest : public ServerTest<ServerKind::kKafka> {};

CPtr<rd_kafka_t, rd_kafka_destroy> NewKafka(
    rd_kafka_type_t type, const std::vector<std::pair<std::string, std::string>>& settings,
    void (*dr_cb)(rd_kafka_t*, const rd_kafka_message_t*, void*), void* opaque) {
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  for (const auto& [key, value] : settings) {
    if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
        RD_KAFKA_CONF_OK) {
      ADD_FAILURE() << key << ": " << errstr;
    }
  }
  if (dr_cb != nullptr) rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
  rd_kafka_conf_set_opaque(conf, opaque);
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);  // owns conf on success
  if (rk == nullptr) {
    ADD_FAILURE() << "rd_kafka_new: " << errstr;
    rd_kafka_conf_destroy(conf);
  }
  return CPtr<rd_kafka_t, rd_kafka_destroy>(rk);
}

struct Delivery {
  int reports = 0;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  int64_t offset = -1;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* d = static_cast<Delivery*>(opaque);
  ++d->reports;
  d->err = m->err;
  d->offset = m->offset;
}

// Produces one message with idempotence on and waits for its acknowledgement;
// returns its offset, or -1 with a test failure.
int64_t ProduceOne(const std::string& bootstrap, const std::string& topic, const std::string& key,
                   const std::string& value) {
  Delivery delivery;
  auto producer = NewKafka(RD_KAFKA_PRODUCER,
                           {{"bootstrap.servers", bootstrap},
                            {"enable.idempotence", "true"},
                            {"message.timeout.ms", "30000"}},
                           OnDelivery, &delivery);
  if (producer == nullptr) return -1;
  rd_kafka_vu_t vus[4];
  vus[0].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[0].u.cstr = topic.c_str();
  vus[1].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[1].u.mem = {const_cast<char*>(value.data()), value.size()};
  vus[2].vtype = RD_KAFKA_VTYPE_KEY;
  vus[2].u.mem = {const_cast<char*>(key.data()), key.size()};
  vus[3].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[3].u.i = RD_KAFKA_MSG_F_COPY;
  CPtr<rd_kafka_error_t, rd_kafka_error_destroy> produce_err(
      rd_kafka_produceva(producer.get(), vus, 4));
  EXPECT_EQ(produce_err, nullptr) << rd_kafka_error_string(produce_err.get());
  if (produce_err != nullptr) return -1;
  EXPECT_EQ(rd_kafka_flush(producer.get(), 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
  EXPECT_EQ(delivery.reports, 1);
  EXPECT_EQ(delivery.err, RD_KAFKA_RESP_ERR_NO_ERROR) << rd_kafka_err2str(delivery.err);
  return delivery.reports == 1 && delivery.err == RD_KAFKA_RESP_ERR_NO_ERROR ? delivery.offset : -1;
}

struct Consumed {
  std::string key, value;
};

// The message at `offset` of partition 0, read by a consumer that assigns
// (no group membership); nullopt with a test failure if none came in 30 s.
std::optional<Consumed> ConsumeAt(const std::string& bootstrap, const std::string& topic,
                                  int64_t offset) {
  // librdkafka 2.0.2 wants a group.id even for a consumer that only assigns.
  auto consumer = NewKafka(RD_KAFKA_CONSUMER,
                           {{"bootstrap.servers", bootstrap},
                            {"group.id", topic},
                            {"enable.auto.commit", "false"},
                            {"auto.offset.reset", "error"}},
                           nullptr, nullptr);
  if (consumer == nullptr) return std::nullopt;
  rd_kafka_poll_set_consumer(consumer.get());
  CPtr<rd_kafka_topic_partition_list_t, rd_kafka_topic_partition_list_destroy> parts(
      rd_kafka_topic_partition_list_new(1));
  rd_kafka_topic_partition_list_add(parts.get(), topic.c_str(), 0)->offset = offset;
  EXPECT_EQ(rd_kafka_assign(consumer.get(), parts.get()), RD_KAFKA_RESP_ERR_NO_ERROR);

  std::optional<Consumed> got;
  std::string last_error;
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while (!got && std::chrono::steady_clock::now() < deadline) {
    CPtr<rd_kafka_message_t, rd_kafka_message_destroy> m(
        rd_kafka_consumer_poll(consumer.get(), 500));
    if (m == nullptr) continue;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // Errors arrive as messages and are mostly transient (a broker still
      // loading, say); librdkafka retries them itself.
      last_error = rd_kafka_message_errstr(m.get());
      continue;
    }
    EXPECT_EQ(m->offset, offset);
    got = Consumed{std::string(static_cast<const char*>(m->key), m->key_len),
                   std::string(static_cast<const char*>(m->payload), m->len)};
  }
  EXPECT_TRUE(got.has_value()) << "no message at offset " << offset
                               << " within 30 s; last error: " << last_error;
  rd_kafka_consumer_close(consumer.get());
  return got;
}

TEST_F(TestbedKafkaTest, CreatesProducesAndConsumesFromOffsetZero) {
  const std::string bootstrap = env(ServerKind::kKafka, "KAFKA_BOOTSTRAP");
  ASSERT_THAT(bootstrap, HasSubstr("127.0.0.1:"));
  const std::string topic = UniqueName("ltxbus-testbed");
  char errstr[512];

  auto admin = NewKafka(RD_KAFKA_PRODUCER, {{"bootstrap.servers", bootstrap}}, nullptr, nullptr);
  ASSERT_NE(admin, nullptr);

  // CreateTopics through the admin API, on a queue we poll with a deadline.
  CPtr<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy> new_topic(
      rd_kafka_NewTopic_new(topic.c_str(), 1, 1, errstr, sizeof errstr));
  ASSERT_NE(new_topic, nullptr) << errstr;
  CPtr<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy> admin_opts(
      rd_kafka_AdminOptions_new(admin.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS));
  ASSERT_EQ(
      rd_kafka_AdminOptions_set_operation_timeout(admin_opts.get(), 20000, errstr, sizeof errstr),
      RD_KAFKA_RESP_ERR_NO_ERROR);
  CPtr<rd_kafka_queue_t, rd_kafka_queue_destroy> queue(rd_kafka_queue_new(admin.get()));
  rd_kafka_NewTopic_t* topics[] = {new_topic.get()};
  rd_kafka_CreateTopics(admin.get(), topics, 1, admin_opts.get(), queue.get());
  CPtr<rd_kafka_event_t, rd_kafka_event_destroy> event(rd_kafka_queue_poll(queue.get(), 30000));
  ASSERT_NE(event, nullptr) << "CreateTopics did not answer within 30 s";
  ASSERT_EQ(rd_kafka_event_error(event.get()), RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_event_error_string(event.get());
  const rd_kafka_CreateTopics_result_t* result = rd_kafka_event_CreateTopics_result(event.get());
  ASSERT_NE(result, nullptr);
  size_t result_count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(result, &result_count);
  ASSERT_EQ(result_count, 1u);
  ASSERT_EQ(rd_kafka_topic_result_error(results[0]), RD_KAFKA_RESP_ERR_NO_ERROR)
      << rd_kafka_topic_result_error_string(results[0]);

  std::string value = "ltx frame \x01\x02";
  value.push_back('\0');
  EXPECT_EQ(ProduceOne(bootstrap, topic, "db1", value), 0);
  auto got = ConsumeAt(bootstrap, topic, 0);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->value, value);
  EXPECT_EQ(got->key, "db1");
  // The partition's log is in the server's directory.
  EXPECT_TRUE(std::filesystem::exists(server(ServerKind::kKafka).dir() + "/data/" + topic + "-0"));
}

TEST_F(TestbedKafkaTest, RestartKeepsThePortAndTheTopics) {
  TestServer& kafka = server(ServerKind::kKafka);
  const std::string bootstrap = kafka.env("KAFKA_BOOTSTRAP");
  const std::string topic = UniqueName("ltxbus-testbed");  // auto-created
  ASSERT_EQ(ProduceOne(bootstrap, topic, "db1", "before"), 0);
  int64_t next = 1;
  // A crash as well as a clean stop: a crashed broker recovers its logs.
  for (auto mode : {TestServer::HaltMode::kClean, TestServer::HaltMode::kCrash}) {
    const pid_t old_pid = kafka.pid();
    ASSERT_TRUE(kafka.Halt(mode).ok());
    EXPECT_FALSE(ProcessAlive(old_pid));
    EXPECT_FALSE(PortAcceptsConnections(PortOf(bootstrap)));
    Status resumed = kafka.Resume();
    ASSERT_TRUE(resumed.ok()) << resumed.ToString();
    EXPECT_FALSE(kafka.halted());
    EXPECT_NE(kafka.pid(), old_pid);
    EXPECT_EQ(kafka.env("KAFKA_BOOTSTRAP"), bootstrap);

    auto got = ConsumeAt(bootstrap, topic, 0);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->value, "before");
    // The restarted broker appends to the old log.
    EXPECT_EQ(ProduceOne(bootstrap, topic, "db1", "after"), next);
    got = ConsumeAt(bootstrap, topic, next);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->value, "after");
    next++;
  }
}

// ---------------------------------------------------------------- S3

struct HttpResponse {
  long status = 0;
  std::string body;
};

size_t AppendBody(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

// One SigV4-signed path-style request. libcurl 7.88 signs but does not send
// x-amz-content-sha256, which S3 servers require, so we add it ourselves.
HttpResponse S3Request(const std::string& method, const std::string& url,
                       const std::string& access_key, const std::string& secret_key,
                       const std::string& body = "") {
  HttpResponse r;
  CPtr<CURL, curl_easy_cleanup> curl(curl_easy_init());
  if (curl == nullptr) {
    ADD_FAILURE() << "curl_easy_init failed";
    return r;
  }
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
  curl_easy_setopt(c, CURLOPT_USERNAME, access_key.c_str());
  curl_easy_setopt(c, CURLOPT_PASSWORD, secret_key.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  const std::string hash_header = "x-amz-content-sha256: " + Sha256Hex(body);
  CPtr<curl_slist, curl_slist_free_all> headers(curl_slist_append(nullptr, hash_header.c_str()));
  if (method == "PUT") {
    // moto parses a form-encoded body (curl's default type) and stores nothing.
    headers.reset(curl_slist_append(headers.release(), "Content-Type: application/octet-stream"));
    // Not "Expect:" to drop the 100-continue round trip: curl 7.88 would sign
    // the empty header without sending it, and moto then rejects the signature.
    curl_easy_setopt(c, CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    ADD_FAILURE() << method << " " << url << ": " << curl_easy_strerror(rc);
    return r;
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

void CheckS3RoundTripAndSignatures(const TestServer& s3, const std::string& bucket_name) {
  const std::string endpoint = s3.env("S3_ENDPOINT");
  const std::string access = s3.env("S3_ACCESS_KEY");
  const std::string secret = s3.env("S3_SECRET_KEY");
  ASSERT_THAT(endpoint, HasSubstr("http://127.0.0.1:"));
  ASSERT_EQ(s3.env("S3_REGION"), "us-east-1");
  ASSERT_FALSE(access.empty());
  ASSERT_FALSE(secret.empty());

  const std::string bucket = endpoint + "/" + bucket_name;
  HttpResponse created = S3Request("PUT", bucket, access, secret);
  ASSERT_EQ(created.status, 200) << created.body;

  std::string object;  // every byte value, and more than one network read
  for (int i = 0; i < 300000; ++i) object.push_back(static_cast<char>((i * 7 + i / 256) & 0xff));
  const std::string url = bucket + "/db1/0000000000000001-0000000000000002.ltx";
  HttpResponse put = S3Request("PUT", url, access, secret, object);
  ASSERT_EQ(put.status, 200) << put.body;

  HttpResponse get = S3Request("GET", url, access, secret);
  ASSERT_EQ(get.status, 200) << get.body;
  EXPECT_EQ(get.body.size(), object.size());
  EXPECT_TRUE(get.body == object) << "GET returned different bytes";

  // Signature checking is on: the same GET signed with a wrong secret fails.
  HttpResponse forged = S3Request("GET", url, access, secret + "x");
  EXPECT_EQ(forged.status, 403) << forged.body;
  EXPECT_THAT(forged.body, HasSubstr("SignatureDoesNotMatch"));
}

class TestbedMotoTest : public ServerTest<ServerKind::kMoto> {};

TEST_F(TestbedMotoTest, PutGetRoundTripAndWrongSecretIsRefused) {
  CheckS3RoundTripAndSignatures(server(ServerKind::kMoto), UniqueName("ltxbus-testbed"));
}

class TestbedVersitygwTest : public ServerTest<ServerKind::kVersitygw> {};

TEST_F(TestbedVersitygwTest, PutGetRoundTripAndWrongSecretIsRefused) {
  const std::string bucket = UniqueName("ltxbus-testbed");
  CheckS3RoundTripAndSignatures(server(ServerKind::kVersitygw), bucket);
  // The posix backend keeps objects as plain files.
  EXPECT_TRUE(std::filesystem::exists(server(ServerKind::kVersitygw).dir() + "/data/" + bucket +
                                      "/db1/0000000000000001-0000000000000002.ltx"));
}

// ---------------------------------------------------------------- lifecycle

std::vector<int> PortsOf(const TestServer& s) {
  std::vector<int> ports;
  for (const auto& [key, value] : s.env_map()) {
    if (int port = PortOf(value); port > 0 && value.find("127.0.0.1") != std::string::npos) {
      ports.push_back(port);
    }
  }
  return ports;
}

TEST(TestbedLifecycleTest, TornDownServersReleaseTheirPortsProcessesAndDirectories) {
  struct Seen {
    std::string name;
    pid_t pid;
    std::string dir;
    std::vector<int> ports;
  };
  std::vector<Seen> seen;
  ServerSet set;  // what ServerTest's SetUpTestSuite/TearDownTestSuite use
  set.Start({ServerKind::kNats, ServerKind::kKafka, ServerKind::kMoto, ServerKind::kVersitygw});
  ASSERT_EQ(set.error(), "");
  for (ServerKind kind :
       {ServerKind::kNats, ServerKind::kKafka, ServerKind::kMoto, ServerKind::kVersitygw}) {
    const TestServer* s = set.Find(kind);
    ASSERT_NE(s, nullptr) << ServerName(kind);
    Seen v{std::string(ServerName(kind)), s->pid(), s->dir(), PortsOf(*s)};
    EXPECT_FALSE(v.ports.empty()) << v.name;
    EXPECT_TRUE(ProcessAlive(v.pid)) << v.name;
    for (int port : v.ports) EXPECT_TRUE(PortAcceptsConnections(port)) << v.name << " " << port;
    seen.push_back(std::move(v));
  }
  set.StopAll();
  for (const Seen& v : seen) {
    EXPECT_FALSE(ProcessAlive(v.pid)) << v.name << " pid " << v.pid;
    for (int port : v.ports) EXPECT_FALSE(PortAcceptsConnections(port)) << v.name << " " << port;
    EXPECT_FALSE(std::filesystem::exists(v.dir)) << v.dir;
  }
}

std::string ScriptPath(ServerKind kind) {
  return fmt::format("{}/scripts/servers/{}.sh", SourceDir(), ServerName(kind));
}

TEST(TestbedLifecycleTest, WatchdogStopsTheServerWhenItsOwnerDies) {
  TempDir tmp;
  const std::string dir = tmp.Join("nats");
  auto owner = Process::Spawn({"sleep", "300"});
  ASSERT_TRUE(owner.ok()) << owner.status().ToString();
  const std::string script = ScriptPath(ServerKind::kNats);
  auto started = RunCommand(
      {script, "start", dir, "--owner", std::to_string(owner->pid()), "--cleanup"}, seconds(60));
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  ASSERT_EQ(started->exit_code, 0) << started->error_output;
  auto server = TestServer::Attach(ServerKind::kNats, dir);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const pid_t pid = (*server)->pid();
  const int port = PortOf((*server)->env("NATS_URL"));
  ASSERT_TRUE(PortAcceptsConnections(port));

  ASSERT_TRUE(owner->Kill().ok());  // the "test binary" dies without cleaning up
  EXPECT_TRUE(WaitFor(
      [&] {
        return !ProcessAlive(pid) && !PortAcceptsConnections(port) && !std::filesystem::exists(dir);
      },
      seconds(20)))
      << "the watchdog did not stop nats-server (pid " << pid << ") and remove " << dir;
  // stop stays safe (and idempotent) after the watchdog did the work.
  for (int i = 0; i < 2; ++i) {
    auto stopped = RunCommand({script, "stop", dir}, seconds(60));
    ASSERT_TRUE(stopped.ok()) << stopped.status().ToString();
    EXPECT_EQ(stopped->exit_code, 0) << stopped->error_output;
  }
}

TEST(TestbedLifecycleTest, MissingServerBinaryFailsNamingInstallDeps) {
  TempDir dir;
  ProcessOptions o;
  o.stdout_mode = Stream::kCapture;
  o.stderr_mode = Stream::kCapture;
  o.env = {{"LTXBUS_TOOLS", dir.Join("no-tools")}};
  for (ServerKind kind : {ServerKind::kKafka, ServerKind::kMoto, ServerKind::kVersitygw}) {
    auto r = RunCommand({ScriptPath(kind), "start", dir.Join(std::string(ServerName(kind)))},
                        seconds(30), o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_NE(r->exit_code, 0) << ServerName(kind);
    EXPECT_THAT(r->error_output, HasSubstr("scripts/install-deps.sh")) << ServerName(kind);
  }
}

TEST(TestbedLifecycleTest, PortOfParsesUrlsAndHostPorts) {
  EXPECT_EQ(PortOf("nats://127.0.0.1:4222"), 4222);
  EXPECT_EQ(PortOf("127.0.0.1:9092"), 9092);
  EXPECT_EQ(PortOf("http://127.0.0.1:7070/bucket"), 7070);
  EXPECT_EQ(PortOf("us-east-1"), -1);
  EXPECT_EQ(PortOf("host:"), -1);
  EXPECT_EQ(PortOf("host:99999"), -1);
}

}  // namespace
}  // namespace ltxbus::testing
