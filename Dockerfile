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
# The V8 flags of bin/node-flags.json: a young generation of 2 x 8 MB and an old generation of
# 1 GB whatever the host's memory, so that V8 collects before the heap is several times its live
# size (README, "Memory").
ENTRYPOINT ["node", "--max-semi-space-size=8", "--max-old-space-size=1024", "bin/mailroom.js"]
CMD ["start"]
