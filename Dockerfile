# Mailroom daemon image. Runs the TypeScript sources through tsx (no separate build step).
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY tsconfig.json ./
COPY examples ./examples
USER node
# V8 flags of bin/node-flags.json: a young generation of 2 x 8 MB instead of V8's size-scaled
# default (2 x 64 MB on a large host), about 100 MB less RSS under a backlog (README, "Memory").
ENTRYPOINT ["node", "--max-semi-space-size=8", "bin/mailroom.js"]
CMD ["start"]
