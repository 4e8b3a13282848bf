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
ENTRYPOINT ["node", "bin/mailroom.js"]
CMD ["start"]
