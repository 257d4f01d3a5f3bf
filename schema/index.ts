export * from "./identity-providers";
export * from "./users";
export * from "./groups";
export * from "./logs";
export * from "./sessions";
export * from "./counts";
export * from "./outbox";
export * from "./access";
