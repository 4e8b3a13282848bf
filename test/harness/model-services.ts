import { startOpenAiServer, type OpenAiTestServer } from './openai-server.js';
import { startTestRedis, type TestRedis } from './redis.js';
import { startSmtpCapture, type SmtpCapture } from './smtp-capture.js';

/** What a Mailroom with a model configured talks to: a test Redis, an SMTP capture and an OpenAI test server. */
export interface ModelServices {
  readonly redis: TestRedis;
  readonly smtp: SmtpCapture;
  readonly llm: OpenAiTestServer;
  /** Closes the three in reverse order of start. */
  close(): Promise<void>;
}

export async function startModelServices(): Promise<ModelServices> {
  const redis = await startTestRedis();
  const smtp = await startSmtpCapture();
  const llm = await startOpenAiServer();
  return {
    redis,
    smtp,
    llm,
    async close() {
      await llm.close();
      await smtp.close();
      await redis.close();
    },
  };
}
